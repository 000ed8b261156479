"""The features store (``data/features.zarr``): per video ``node_features`` (N, F),
``descriptors`` (N, D), ``pixel_count`` (N,) and ``frame_offsets`` (T+1,) (``SCHEMA.md``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gnnannot.errors import DataError
from gnnannot.store.base import ensure_store, group_writer, open_video_group, read_array, write_rows

FEATURE_ARRAYS = ("node_features", "descriptors", "pixel_count", "frame_offsets")


def write_features(
    store: str | os.PathLike[str],
    seq: str,
    node_features: np.ndarray,
    descriptors: np.ndarray,
    pixel_count: np.ndarray,
    frame_offsets: np.ndarray,
    attrs: dict[str, Any],
    dtype: str = "float16",
) -> None:
    """Write the features group of ``seq`` (attrs should hold ``feature_names``,
    ``descriptor_names``, ``fingerprint``, ...)."""
    root = ensure_store(store, "features")
    n = int(frame_offsets[-1])
    for name, a in (("node_features", node_features), ("descriptors", descriptors),
                    ("pixel_count", pixel_count)):  # fmt: skip
        if a.shape[0] != n:
            raise DataError(f"{root}/{seq}: {name} has {a.shape[0]} rows, expected {n} nodes")
    with group_writer(root, seq, {**attrs, "n_nodes": n, "dtype": dtype},
                      FEATURE_ARRAYS) as grp:  # fmt: skip
        write_rows(grp, "node_features", node_features, dtype)
        write_rows(grp, "descriptors", descriptors, dtype)
        write_rows(grp, "pixel_count", pixel_count, np.int32)
        write_rows(grp, "frame_offsets", frame_offsets, np.int64)


def read_features(store: str | os.PathLike[str], seq: str) -> dict[str, Any]:
    """The features group of ``seq``: arrays (float32 / int64) plus ``attrs``."""
    grp = open_video_group(store, seq, "features")
    where = f"{store}/{seq}"
    out: dict[str, Any] = {"attrs": dict(grp.attrs)}
    for name in FEATURE_ARRAYS:
        a = read_array(grp, name, where)
        out[name] = a.astype(np.float32 if a.dtype.kind == "f" else np.int64)
    return out
