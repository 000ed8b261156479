"""The seed's per-video optical flow ``.h5`` format (FlowNet2 files of GNN-annot): import
with strict validation, streaming into the flow store, and export back.

One file per video (the seed named them ``flownet2_<seq>.h5``) with datasets::

    flows      (n_frames-1, H, W, 2) float32   forward flow, last axis (y, x)
    inv_flows  (n_frames-1, H, W, 2) float32   backward flow, last axis (y, x)
    occls      (n_frames-1, H, W)    bool      occlusion of the forward flow
    inv_occls  (n_frames-1, H, W)    bool      occlusion of the backward flow

``H, W`` = 480, 854 for DAVIS (the frames' resolution). Array semantics are those of
:mod:`gnnannot.flow` (``flows`` = store ``forward`` ...). The seed's GMA script wrote the
flows as float16; float16 is accepted on import too, every other dtype is rejected. Extra
datasets (the seed's ``offset_yx``, ``orig_vidsize_yx``, ``flow_run_size_yx``) are ignored
on import and written on export.

Import reads a few frame pairs at a time (aligned to the datasets' HDF5 chunking), so peak
memory is a small multiple of one pair, not the file size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gnnannot.atomic import atomic_file
from gnnannot.errors import DataError
from gnnannot.flow import FlowPair
from gnnannot.io.flow_store import FlowVideo, FlowWriter, open_flow

KEYS = {
    "flows": "forward",
    "inv_flows": "backward",
    "occls": "occ_forward",
    "inv_occls": "occ_backward",
}
FLOW_DTYPES = (np.dtype("float32"), np.dtype("float16"))
NAME_PATTERNS = ("{seq}.h5", "flownet2_{seq}.h5", "optflow_gma_{seq}.h5")
MAX_BLOCK = 8


def find_h5(h5_dir: str | os.PathLike[str], seq: str) -> Path:
    """The ``.h5`` file of ``seq`` in ``h5_dir``: ``<seq>.h5``, ``flownet2_<seq>.h5`` or
    ``optflow_gma_<seq>.h5`` (exactly one must exist)."""
    folder = Path(h5_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: flow .h5 folder not found")
    found = [folder / p.format(seq=seq) for p in NAME_PATTERNS]
    found = [p for p in found if p.is_file()]
    if not found:
        names = ", ".join(p.format(seq=seq) for p in NAME_PATTERNS)
        raise DataError(f"{folder}: no flow file for video {seq!r} (looked for {names})")
    if len(found) > 1:
        raise DataError(
            f"{folder}: several flow files for video {seq!r}: {[p.name for p in found]}"
        )
    return found[0]


def validate_h5(
    h5: h5py.File, path: str | os.PathLike[str], n_frames: int, height: int, width: int
) -> None:
    """Check keys, shapes and dtypes of an open seed ``.h5`` (values are checked while
    streaming). Raises DataError naming the file, key and expected vs found."""
    n = n_frames - 1
    for key in KEYS:
        if key not in h5:
            raise DataError(
                f"{path}: missing dataset {key!r} (found keys {sorted(h5.keys())}; "
                f"expected {sorted(KEYS)})"
            )
        if not isinstance(h5[key], h5py.Dataset):
            raise DataError(f"{path}: {key!r} is a group, expected a dataset")
    for key in KEYS:
        ds = h5[key]
        is_flow = key in ("flows", "inv_flows")
        want_nd = 4 if is_flow else 3
        shape = tuple(ds.shape)
        want = (n, height, width, 2) if is_flow else (n, height, width)
        if len(shape) != want_nd or (is_flow and shape[3] != 2):
            raise DataError(f"{path}: dataset {key!r}: expected shape {want}, found {shape}")
        if shape[1:3] != (height, width):
            raise DataError(
                f"{path}: dataset {key!r}: wrong resolution: expected {height}x{width} "
                f"(H x W, the video's frame size), found {shape[1]}x{shape[2]}"
            )
        if shape[0] != n:
            raise DataError(
                f"{path}: dataset {key!r}: frame count does not match the video: expected "
                f"{n} frame pairs (video has {n_frames} frames), found {shape[0]} "
                f"(= {shape[0] + 1} frames)"
            )
        dt = ds.dtype
        if is_flow and dt not in FLOW_DTYPES:
            raise DataError(f"{path}: dataset {key!r}: expected dtype float32, found {dt}")
        if not is_flow and dt != np.dtype(bool):
            raise DataError(f"{path}: dataset {key!r}: expected dtype bool, found {dt}")


def _block_size(h5: h5py.File) -> int:
    sizes = []
    for key in KEYS:
        chunks = h5[key].chunks
        sizes.append(chunks[0] if chunks else 1)
    return max(1, min(max(sizes), MAX_BLOCK))


def iter_h5(
    path: str | os.PathLike[str], n_frames: int, height: int, width: int
) -> Iterator[FlowPair]:
    """Validate and stream a seed ``.h5`` file pair by pair (flows as float32). NaN/inf
    flow values raise DataError naming the dataset and pair index."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: flow .h5 file not found")
    try:
        h5 = h5py.File(path, "r", rdcc_nbytes=32 * 2**20, rdcc_nslots=10007)
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with h5:
        validate_h5(h5, path, n_frames, height, width)
        block = _block_size(h5)
        n = n_frames - 1
        for start in range(0, n, block):
            stop = min(n, start + block)
            data: dict[str, np.ndarray] = {}
            for key in KEYS:
                try:
                    values = h5[key][start:stop]
                except Exception as exc:  # noqa: BLE001 - corrupt chunk / filter error
                    raise DataError(
                        f"{path}: dataset {key!r} pairs {start}..{stop - 1}: cannot read ({exc})"
                    ) from exc
                if key in ("flows", "inv_flows"):
                    finite = np.isfinite(values)
                    if not finite.all():
                        bad = np.argwhere(~finite)[0]
                        raise DataError(
                            f"{path}: dataset {key!r}: non-finite value (NaN/inf) at pair "
                            f"{start + bad[0]}, pixel (y={bad[1]}, x={bad[2]}); expected "
                            f"finite flow"
                        )
                    values = values.astype(np.float32, copy=False)
                data[key] = values
            for i in range(stop - start):
                yield FlowPair(
                    start + i,
                    data["flows"][i],
                    data["inv_flows"][i],
                    data["occls"][i],
                    data["inv_occls"][i],
                )


def import_h5(
    path: str | os.PathLike[str],
    store: str | os.PathLike[str],
    seq: str,
    n_frames: int,
    height: int,
    width: int,
    params: dict[str, Any] | None = None,
    dtype: str = "quantized",
    shard_pairs: int = 8,
    occ_shard_pairs: int = 32,
    frames_digest: str | None = None,
) -> FlowVideo:
    """Import one seed ``.h5`` into group ``seq`` of ``store`` (method "h5"), streaming.
    Occlusions are taken from the file as they are. Returns the opened group."""
    path = Path(path)
    if params is None:
        params = h5_source_params(path)
    with FlowWriter(
        store, seq, n_frames, height, width, "h5", params, shard_pairs=shard_pairs, dtype=dtype,
        occ_shard_pairs=occ_shard_pairs, frames_digest=frames_digest,
    ) as writer:
        for pair in iter_h5(path, n_frames, height, width):
            writer.write(pair.forward, pair.backward, pair.occ_forward, pair.occ_backward)
    return open_flow(store, seq)


def h5_source_params(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Identity of an ``.h5`` source (name, size, mtime) recorded in the group attrs so a
    changed file is re-imported."""
    st = Path(path).stat()
    return {"source": Path(path).name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def export_h5(
    flow: FlowVideo | tuple[str | os.PathLike[str], str],
    path: str | os.PathLike[str],
    compression: str | None = "gzip",
    compression_level: int = 1,
) -> Path:
    """Write one video's flow (a :class:`FlowVideo` or ``(store, seq)``) to ``path`` in the
    seed's ``.h5`` format (float32 flows, bool occlusions, chunked per pair), pair by pair,
    atomically."""
    fv = flow if isinstance(flow, FlowVideo) else open_flow(*flow)
    n, (h, w) = fv.n_pairs, fv.shape
    path = Path(path)
    opts: dict[str, Any] = {}
    if compression == "gzip":
        opts = {"compression": "gzip", "compression_opts": compression_level, "shuffle": True}
    elif compression is not None:
        opts = {"compression": compression}
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as h5:
        dsets = {
            "flows": h5.create_dataset(
                "flows", (n, h, w, 2), dtype="<f4", chunks=(1, h, w, 2), **opts
            ),
            "inv_flows": h5.create_dataset(
                "inv_flows", (n, h, w, 2), dtype="<f4", chunks=(1, h, w, 2), **opts
            ),
            "occls": h5.create_dataset("occls", (n, h, w), dtype=bool, chunks=(1, h, w), **opts),
            "inv_occls": h5.create_dataset(
                "inv_occls", (n, h, w), dtype=bool, chunks=(1, h, w), **opts
            ),
        }
        h5.create_dataset("offset_yx", data=np.zeros(2, np.float32))
        h5.create_dataset("orig_vidsize_yx", data=np.array([h, w], np.float32))
        h5.create_dataset("flow_run_size_yx", data=np.array([h, w], np.float32))
        h5.attrs["gnnannot_method"] = fv.method
        for t in range(n):
            dsets["flows"][t] = fv.forward(t)
            dsets["inv_flows"][t] = fv.backward(t)
            dsets["occls"][t] = fv.occ_forward(t)
            dsets["inv_occls"][t] = fv.occ_backward(t)
    return path
