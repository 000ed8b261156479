"""The flow store and the seed's ``.h5`` flow format (:mod:`gnnannot.preprocess.flow.h5`):
import a file into a store group, export a group back to a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from gnnannot.atomic import atomic_file
from gnnannot.preprocess.flow.h5 import h5_source_params, iter_h5
from gnnannot.store.flow import FlowVideo, FlowWriter, open_flow


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
