"""The graphs stage: spatial and flow edges with constant edge features
(:mod:`gnnannot.preprocess.graph`) of every video into a graphs store
(:mod:`gnnannot.store.graphs`; nodes, labels and node features stay in the superpixels and
features stores, :func:`gnnannot.store.graphs.open_graph` joins them). Per-video
incremental: groups whose fingerprint (params, superpixels, features, flow) matches are
kept."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gnnannot.errors import ConfigError, DataError
from gnnannot.pipeline.chunks import frame_chunks, run_chunked
from gnnannot.pipeline.executor import Executor
from gnnannot.pipeline.runner import ExecutorConfig, VideoTask, flow_fingerprint, run_videos
from gnnannot.preprocess.features import NODE_FEATURE_NAMES
from gnnannot.preprocess.flow.frames import FrameFlows
from gnnannot.preprocess.graph import (
    EDGE_FEATURE_NAMES,
    EdgeSet,
    edge_features,
    graph_arrays,
    video_edges,
)
from gnnannot.store.base import fingerprint, group_attrs, is_up_to_date
from gnnannot.store.features import read_features
from gnnannot.store.flow import open_flow
from gnnannot.store.graphs import write_graph
from gnnannot.store.superpixels import open_superpixels
from gnnannot.types import BACKWARD, EDGE_TYPE_NAMES, FORWARD, SPATIAL

__all__ = ["GraphConfig", "build_graph_store", "graph_chunk", "graph_chunked_job", "graph_job"]

STAGE_VERSION = 1
DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class GraphConfig:
    """The ``graphs`` section of params.yaml (its defaults are these)."""

    min_flow_weight: float = 0.05  # flow edges below this weight are dropped (but one)
    dtype: str = "float16"  # float16 | float32
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"graphs.dtype must be float16 or float32, found {self.dtype!r}")
        if not 0 <= self.min_flow_weight <= 1:
            raise ConfigError(f"graphs.min_flow_weight must be in [0, 1], found "
                              f"{self.min_flow_weight}")  # fmt: skip


def _open_inputs(
    seq: str, sp_store: str, ft_store: str, flow_store: str | None
) -> tuple[Any, dict[str, Any], FrameFlows]:
    spv = open_superpixels(sp_store, seq)
    feats = read_features(ft_store, seq)
    if not np.array_equal(feats["frame_offsets"], spv.offsets):
        raise DataError(f"{ft_store}/{seq}: frame_offsets differ from {sp_store}/{seq}")
    ff = FrameFlows(open_flow(flow_store, seq) if flow_store else None, spv.n_frames)
    return spv, feats, ff


def _write(
    seq: str, store: str, sp_store: str, ft_store: str, spv: Any, feats: dict[str, Any],
    edges: Any, ef: np.ndarray, min_flow_weight: float, dtype: str, fp: str,
) -> dict[str, Any]:  # fmt: skip
    attrs = {
        "fingerprint": fp,
        "superpixels_fingerprint": spv.fingerprint,
        "features_fingerprint": feats["attrs"].get("fingerprint"),
        "edge_feature_names": list(EDGE_FEATURE_NAMES),
        "edge_type_names": list(EDGE_TYPE_NAMES),
        "min_flow_weight": min_flow_weight,
        "n_nodes": int(spv.offsets[-1]),
        "n_frames": spv.n_frames,
    }
    write_graph(store, seq, edges.edge_index, edges.edge_type, edges.weight, ef, attrs, dtype,
                **_joined_stores(store, sp_store, ft_store))  # fmt: skip
    return {"seq": seq, "n_edges": int(edges.edge_type.size)}


def graph_job(
    seq: str, store: str, sp_store: str, ft_store: str, flow_store: str | None,
    min_flow_weight: float, dtype: str, fp: str,
) -> dict[str, Any]:  # fmt: skip
    """Compute and write the graph of one video (a :func:`run_videos` job)."""
    spv, feats, ff = _open_inputs(seq, sp_store, ft_store, flow_store)
    names = feats["attrs"].get("feature_names", NODE_FEATURE_NAMES)
    # labels read per frame (a cheap shard read), not the whole volume: bounded memory
    edges, ef = graph_arrays(spv.local, spv.offsets, feats["node_features"], names,
                             (spv.height, spv.width), ff.pair_forward, ff.pair_backward,
                             min_flow_weight)  # fmt: skip
    return _write(seq, store, sp_store, ft_store, spv, feats, edges, ef, min_flow_weight,
                  dtype, fp)  # fmt: skip


#: Per edge type, the ``(edge_index, weight, contact)`` of one frame range's edges.
EdgeBlocks = dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def graph_chunk(
    seq: str, sp_store: str, flow_store: str | None, min_flow_weight: float, start: int,
    stop: int,
) -> EdgeBlocks:  # fmt: skip
    """The edges of frames ``start..stop-1`` by type: the spatial edges of each frame and
    the flow edges of the pairs (t-1, t) with t in the range (a chunk job of
    :func:`graph_chunked_job`). :func:`video_edges` runs on frames ``start-1..stop-1``
    (global node ids: the offsets are the video's) and frame ``start-1``'s spatial edges
    are dropped, so the chunks' edges joined per type in chunk order are the video's."""
    spv = open_superpixels(sp_store, seq)
    ff = FrameFlows(open_flow(flow_store, seq) if flow_store else None, spv.n_frames)
    first = max(0, start - 1)
    edges = video_edges(lambda i: spv.local(first + i), spv.offsets[first:stop + 1],
                        lambda i: ff.pair_forward(first + i),
                        lambda i: ff.pair_backward(first + i), min_flow_weight)  # fmt: skip
    keep = ~((edges.edge_type == SPATIAL) & (edges.edge_index[0] < spv.offsets[start]))
    out: EdgeBlocks = {}
    for etype in (SPATIAL, FORWARD, BACKWARD):
        m = keep & (edges.edge_type == etype)
        out[etype] = (edges.edge_index[:, m], edges.weight[m], edges.contact[m])
    return out


def _join(parts: list[EdgeBlocks]) -> EdgeSet:
    """The video's :class:`EdgeSet` from its chunks' edges: all spatial edges, then the
    forward, then the backward ones, each in frame order (as :func:`video_edges`)."""
    order = [(etype, p[etype]) for etype in (SPATIAL, FORWARD, BACKWARD) for p in parts]
    return EdgeSet(
        np.concatenate([ei for _, (ei, _, _) in order], axis=1).astype(np.int64),
        np.concatenate([np.full(ei.shape[1], etype, dtype=np.int8)
                        for etype, (ei, _, _) in order]),  # fmt: skip
        np.concatenate([w for _, (_, w, _) in order]).astype(np.float32),
        np.concatenate([c for _, (_, _, c) in order]).astype(np.int64),
    )


def graph_chunked_job(
    seq: str, store: str, sp_store: str, ft_store: str, flow_store: str | None,
    min_flow_weight: float, dtype: str, fp: str, *, executor: Executor, quiet: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """:func:`graph_job` with the edges of frame chunks computed on ``executor`` and
    joined in frame order (the same edges in the same order: the same bytes)."""
    spv, feats, _ = _open_inputs(seq, sp_store, ft_store, flow_store)
    names = feats["attrs"].get("feature_names", NODE_FEATURE_NAMES)
    parts: list[EdgeBlocks] = []
    run_chunked(executor, graph_chunk, (seq, sp_store, flow_store, min_flow_weight),
                frame_chunks(spv.n_frames, executor.workers), parts.append,
                description="graphs", label=seq, quiet=quiet)  # fmt: skip
    edges = _join(parts)
    ef = edge_features(feats["node_features"], edges.edge_index, edges.edge_type,
                       edges.weight, edges.contact, (spv.height, spv.width), names)  # fmt: skip
    return _write(seq, store, sp_store, ft_store, spv, feats, edges, ef, min_flow_weight,
                  dtype, fp)  # fmt: skip


def _joined_stores(store: str, sp_store: str, ft_store: str) -> dict[str, str]:
    """The superpixels and features stores relative to the graphs store's parent folder
    (recorded in its root attrs, where :func:`open_graph` finds them)."""
    parent = os.path.dirname(os.path.abspath(store))
    return {"superpixels_store": os.path.relpath(os.path.abspath(sp_store), parent),
            "features_store": os.path.relpath(os.path.abspath(ft_store), parent)}


def build_graph_store(
    store: str,
    sp_store: str,
    ft_store: str,
    flow_store: str | None,
    sequences: list[str],
    config: GraphConfig | None = None,
    *,
    prune: bool = True,
    executor: Executor | None = None,
    quiet: bool = False,
    chunks: bool = True,
    **options: Any,
) -> dict[str, list[str]]:
    """Graphs of ``sequences`` into ``store``; with ``prune`` groups of other videos are
    removed. config: the stage's :class:`GraphConfig` (or its fields as keyword
    ``options``); executor: where the videos run (default: serially in this process; the
    stage passes its config's); chunks: split a video into frame chunks over the
    executor's workers when there are fewer videos than workers (the same bytes; False:
    one job per video). Returns ``{"computed", "kept", "removed"}``."""
    cfg = replace(config or GraphConfig(), **options)

    def plan(seq: str) -> VideoTask:
        spv = open_superpixels(sp_store, seq)
        ft_fp = (group_attrs(ft_store, seq) or {}).get("fingerprint")
        fp = fingerprint("graphs", STAGE_VERSION, cfg.min_flow_weight, cfg.dtype,
                         spv.fingerprint, ft_fp, flow_fingerprint(flow_store, seq))  # fmt: skip
        args = (seq, store, sp_store, ft_store, flow_store, cfg.min_flow_weight, cfg.dtype, fp)
        return VideoTask(seq, fp, args, spv.n_frames)

    return run_videos(
        store, name="graphs", kind="graphs", sequences=list(sequences), plan=plan,
        job=graph_job, up_to_date=is_up_to_date, keep=sequences if prune else None,
        executor=executor, root_attrs=_joined_stores(store, sp_store, ft_store), quiet=quiet,
        chunked=graph_chunked_job if chunks else None,
    )  # fmt: skip
