"""The seed's per-video optical flow ``.h5`` format (FlowNet2 files of GNN-annot): finding
and reading the files with strict validation, streaming pair by pair (the ``h5`` flow
estimator of :mod:`gnnannot.preprocess.flow.registry`; writing the format back is
:func:`gnnannot.store.flow_h5.export_h5`).

One file per video (the seed named them ``flownet2_<seq>.h5``) with datasets::

    flows      (n_frames-1, H, W, 2) float32   forward flow, last axis (y, x)
    inv_flows  (n_frames-1, H, W, 2) float32   backward flow, last axis (y, x)
    occls      (n_frames-1, H, W)    bool      occlusion of the forward flow
    inv_occls  (n_frames-1, H, W)    bool      occlusion of the backward flow

``H, W`` = 480, 854 for DAVIS (the frames' resolution). Array semantics are those of
:mod:`gnnannot.preprocess.flow.estimate` (``flows`` = store ``forward`` ...). The seed's
GMA script wrote the flows as float16; float16 is accepted on import too, every other dtype
is rejected. Extra datasets (the seed's ``offset_yx``, ``orig_vidsize_yx``,
``flow_run_size_yx``) are ignored on reading and written on export.

Reading takes a few frame pairs at a time (aligned to the datasets' HDF5 chunking), so peak
memory is a small multiple of one pair, not the file size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gnnannot.errors import DataError
from gnnannot.types import FlowPair

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


def h5_source_params(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Identity of an ``.h5`` source (name, size, mtime) recorded in the group attrs so a
    changed file is re-imported."""
    st = Path(path).stat()
    return {"source": Path(path).name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
