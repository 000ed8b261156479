"""The graphs store (``data/graphs.zarr``) and the graph reader.

Per video: ``edge_index`` (E, 2), ``edge_type``, ``edge_weight``, ``edge_features`` and
``type_offsets`` (``SCHEMA.md``). :func:`open_graph` joins the graph group with the
video's superpixels and features groups into a :class:`gnnannot.types.VideoGraph`
(labels loaded lazily, per frame or per video).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from gnnannot.errors import DataError
from gnnannot.store.base import ensure_store, group_writer, open_video_group, read_array, write_rows
from gnnannot.store.features import read_features
from gnnannot.store.superpixels import SuperpixelVideo
from gnnannot.types import VideoGraph

GRAPH_ARRAYS = ("edge_index", "edge_type", "edge_weight", "edge_features", "type_offsets")


def write_graph(
    store: str | os.PathLike[str],
    seq: str,
    edge_index: np.ndarray,
    edge_type: np.ndarray,
    edge_weight: np.ndarray,
    edge_features: np.ndarray,
    attrs: dict[str, Any],
    dtype: str = "float16",
    superpixels_store: str = "superpixels.zarr",
    features_store: str = "features.zarr",
) -> None:
    """Write the graph group of ``seq``; edges must be sorted by type (0, 1, 2).
    ``superpixels_store`` / ``features_store``: the stores the graph joins, relative to the
    graphs store's parent folder (recorded in its root attrs for :func:`open_graph`)."""
    root = ensure_store(store, "graphs", superpixels_store=superpixels_store,
                        features_store=features_store)  # fmt: skip
    et = np.asarray(edge_type, dtype=np.int8)
    if et.size and np.any(np.diff(et) < 0):
        raise ValueError("edges must be sorted by edge type")
    type_offsets = np.searchsorted(et, np.arange(4), side="left").astype(np.int64)
    with group_writer(root, seq, {**attrs, "n_edges": int(et.size), "dtype": dtype},
                      GRAPH_ARRAYS) as grp:  # fmt: skip
        write_rows(grp, "edge_index", np.asarray(edge_index).T, np.int32)  # stored (E, 2)
        write_rows(grp, "edge_type", et)
        write_rows(grp, "edge_weight", edge_weight, dtype)
        write_rows(grp, "edge_features", edge_features, dtype)
        write_rows(grp, "type_offsets", type_offsets)


def open_graph(
    store_path: str | os.PathLike[str],
    seq: str,
    superpixels_store: str | os.PathLike[str] | None = None,
    features_store: str | os.PathLike[str] | None = None,
    check_fingerprints: bool = True,
) -> VideoGraph:
    """Load the graph of video ``seq``.

    store_path: the graphs store (``data/graphs.zarr``). The superpixels and features
    stores default to the paths in its root attrs, relative to its parent folder
    (``superpixels.zarr`` / ``features.zarr`` siblings). Edges, node features and
    descriptors are read eagerly (float32 / int64); label frames lazily. With
    ``check_fingerprints`` a graph built from other superpixels/features than the ones
    present raises DataError (stale cache).
    """
    gpath = Path(store_path)
    grp = open_video_group(gpath, seq, "graphs")
    where = f"{gpath}/{seq}"
    root_attrs = dict(zarr.open_group(str(gpath), mode="r", zarr_format=3).attrs)
    sp_path = Path(superpixels_store) if superpixels_store else (
        gpath.parent / root_attrs.get("superpixels_store", "superpixels.zarr"))  # fmt: skip
    ft_path = Path(features_store) if features_store else (
        gpath.parent / root_attrs.get("features_store", "features.zarr"))  # fmt: skip
    attrs = dict(grp.attrs)
    spv = SuperpixelVideo(sp_path, seq)
    feats = read_features(ft_path, seq)
    if check_fingerprints:
        for key, have in (("superpixels_fingerprint", spv.fingerprint),
                          ("features_fingerprint", feats["attrs"].get("fingerprint"))):  # fmt: skip
            if attrs.get(key) != have:
                raise DataError(
                    f"{where}: built from {key.split('_')[0]} {attrs.get(key)!r} but the "
                    f"store has {have!r}; rerun the 'graphs' stage"
                )
    if not np.array_equal(feats["frame_offsets"], spv.offsets):
        raise DataError(f"{ft_path}/{seq}: frame_offsets differ from {sp_path}/{seq}")
    edge_index = read_array(grp, "edge_index", where).astype(np.int64).T.copy()
    n = int(spv.offsets[-1])
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= n):
        raise DataError(f"{where}: edge_index refers to nodes outside 0..{n - 1}")
    return VideoGraph(
        seq=seq,
        height=spv.height,
        width=spv.width,
        frame_offsets=spv.offsets,
        node_features=feats["node_features"],
        node_feature_names=tuple(feats["attrs"].get("feature_names", ())),
        descriptors=feats["descriptors"],
        descriptor_names=tuple(feats["attrs"].get("descriptor_names", ())),
        node_pixel_count=feats["pixel_count"],
        edge_index=edge_index,
        edge_type=read_array(grp, "edge_type", where).astype(np.int8),
        edge_weight=read_array(grp, "edge_weight", where).astype(np.float32),
        edge_features=read_array(grp, "edge_features", where).astype(np.float32),
        edge_feature_names=tuple(attrs.get("edge_feature_names", ())),
        local_source=spv.local,
        local_all_source=spv.local_all,
        attrs=attrs,
    )
