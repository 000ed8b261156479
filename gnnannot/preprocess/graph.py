"""The superpixel graph of a video: spatial and flow edges, edge features, oracle labels.

Nodes are the superpixels of all frames; node ``offsets[t] + k`` is superpixel ``k`` of
frame ``t``. Edges (directed, ``edge_index[0]`` = source, ``[1]`` = target), stored in
this order, each block sorted by (source, target):

* type 0 ``spatial``: superpixels of one frame sharing a 4-neighbour pixel boundary, in
  **both directions**. ``weight`` = shared boundary pixels / all boundary pixels of the
  source (how much of the source's outline the target covers).
* type 1 ``forward`` flow: source in frame t, target in t+1. The forward flow moves each
  pixel of the source (rounded to the nearest pixel); ``weight`` = pixels landing in the
  target / source size.
* type 2 ``backward`` flow: source in frame t+1, target in t, same with the backward flow.

Flow edges with ``weight < min_flow_weight`` are dropped unless they are the strongest
edge of their source (every node with in-frame flow keeps one edge per direction).
Together, type 1 and type 2 give messages both ways in time.

Edge features (``EDGE_FEATURE_NAMES``, 13): Lab-mean distance; for the forward and
backward mean flows of the two nodes the angle between them (0..pi), the smaller magnitude
and the relative magnitude difference ``|f_s - f_t| / (max(|f_s|, |f_t|) + 1)``; the edge
weight; ``log(1 + contact pixels)``; the centroid distance (flow edges: between the
target's centroid and the source's centroid moved by its mean flow) in units of the image
diagonal; the three type flags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gnnannot.errors import DataError
from gnnannot.preprocess.descriptors import Descriptor
from gnnannot.preprocess.features import NODE_FEATURE_NAMES, video_features
from gnnannot.preprocess.flow.frames import FrameFlows
from gnnannot.preprocess.superpixels import SuperpixelParams, segment_video
from gnnannot.types import BACKWARD, FORWARD, SPATIAL, VideoGraph

EDGE_FEATURE_NAMES: tuple[str, ...] = (
    "lab_dist",
    "fwd_angle", "fwd_min_mag", "fwd_rel_mag",
    "bwd_angle", "bwd_min_mag", "bwd_rel_mag",
    "weight", "log_contact", "centroid_dist",
    "is_spatial", "is_forward", "is_backward",
)  # fmt: skip
_DENSE_LIMIT = 1 << 24  # pair keys up to this use bincount, larger use np.unique


def _count_keys(key: np.ndarray, nb: int, na: int) -> tuple[np.ndarray, ...]:
    """Distinct pair keys ``a * nb + b`` (int64) -> (a, b, multiplicity), sorted."""
    if na * nb <= _DENSE_LIMIT:
        cnt = np.bincount(key, minlength=na * nb)
        uniq = np.flatnonzero(cnt != 0)  # 3x faster than flatnonzero of the int64 counts
        counts = cnt[uniq]
    else:
        uniq, counts = np.unique(key, return_counts=True)
    return uniq // nb, uniq % nb, counts.astype(np.int64)


# --------------------------------------------------------------------------- edges
def spatial_edges(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent superpixels of one frame (4-connectivity).

    labels (H, W) int ``0..n-1``. Returns ``(src, dst, contact)``: both directions of every
    touching pair (sorted by src, dst), ``contact`` = number of neighbouring pixel pairs
    across their common boundary (same for both directions).
    """
    lab = np.asarray(labels)
    left, right, up, down = lab[:, :-1], lab[:, 1:], lab[:-1, :], lab[1:, :]
    hm, vm = left != right, up != down
    a = np.concatenate([left[hm], up[vm]]).astype(np.int64)
    b = np.concatenate([right[hm], down[vm]]).astype(np.int64)
    return _count_keys(np.concatenate([a * n + b, b * n + a]), n, n)


def _flow_targets(labels_dst: np.ndarray, flow: np.ndarray, outside: int) -> np.ndarray:
    """(H, W) label of ``labels_dst`` under each source pixel moved by ``flow``
    (H, W, 2) (y, x), rounded to the nearest pixel (half to even, as ``np.rint``);
    ``outside`` where it leaves the frame. Nearest-neighbour ``cv2.remap`` when the labels
    fit in uint16 (then uint16), else numpy indexing (same values, int64)."""
    h, w = labels_dst.shape
    f = np.asarray(flow, dtype=np.float32)
    my = np.arange(h, dtype=np.float32)[:, None] + f[..., 0]
    mx = np.arange(w, dtype=np.float32)[None, :] + f[..., 1]
    if outside < 65535 and h < 32767 and w < 32767:
        import cv2

        lab16 = np.ascontiguousarray(labels_dst, dtype=np.uint16)
        out = cv2.remap(lab16, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=outside)  # fmt: skip
        return out
    ty = np.rint(my).astype(np.int64)
    tx = np.rint(mx).astype(np.int64)
    ok = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
    out = np.full((h, w), outside, dtype=np.int64)
    out[ok] = labels_dst[ty[ok], tx[ok]]
    return out


def flow_edges(
    labels_src: np.ndarray,
    labels_dst: np.ndarray,
    n_src: int,
    n_dst: int,
    flow: np.ndarray,
    min_weight: float = 0.05,
    sizes_src: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Superpixels of frame ``src`` linked to those of frame ``dst`` by ``flow``.

    flow (H, W, 2) float (y, x) on the source frame's pixels, pointing into the target
    frame. Returns ``(src, dst, overlap, weight)`` with local ids, ``overlap`` = source
    pixels landing in the target superpixel, ``weight = overlap / source size``. Pairs
    with ``weight < min_weight`` are dropped unless strongest for their source.
    """
    # pixels leaving the frame land in the extra target id n_dst, dropped after counting
    d = _flow_targets(labels_dst, flow, n_dst)
    key = np.array(labels_src, dtype=np.int64)  # key = src * (n_dst + 1) + dst, in place
    key *= n_dst + 1
    key += d
    src, dst, overlap = _count_keys(key.ravel(), n_dst + 1, n_src)
    inside = dst < n_dst
    src, dst, overlap = src[inside], dst[inside], overlap[inside]
    if sizes_src is None:
        sizes_src = np.bincount(np.asarray(labels_src).ravel(), minlength=n_src)
    weight = overlap / np.maximum(sizes_src[src], 1)
    if src.size:
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        best = np.maximum.reduceat(overlap, starts)
        best_of = np.repeat(best, np.diff(np.r_[starts, src.size]))
        keep = (weight >= min_weight) | (overlap == best_of)
        src, dst, overlap, weight = src[keep], dst[keep], overlap[keep], weight[keep]
    return src, dst, overlap, weight


def _angle_mags(fa: np.ndarray, fb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cross = fa[:, 0] * fb[:, 1] - fa[:, 1] * fb[:, 0]
    dot = (fa * fb).sum(1)
    angle = np.arctan2(np.abs(cross), dot)
    ma = np.hypot(fa[:, 0], fa[:, 1])
    mb = np.hypot(fb[:, 0], fb[:, 1])
    rel = np.hypot(*(fa - fb).T) / (np.maximum(ma, mb) + 1.0)
    return angle, np.minimum(ma, mb), rel


def edge_features(
    node_features: np.ndarray,
    edge_index: np.ndarray,
    edge_type: np.ndarray,
    weight: np.ndarray,
    contact: np.ndarray,
    shape: tuple[int, int],
    feature_names: Sequence[str] = NODE_FEATURE_NAMES,
) -> np.ndarray:
    """Constant edge features (E, 13) float32 in ``EDGE_FEATURE_NAMES`` order.

    node_features (N, F) with columns ``feature_names`` (needs the Lab means, centroids and
    mean flows of :data:`gnnannot.preprocess.features.NODE_FEATURE_NAMES`); shape = (H, W).
    """
    col = {n: i for i, n in enumerate(feature_names)}
    nf = np.asarray(node_features, dtype=np.float64)
    s, t = edge_index[0], edge_index[1]
    h, w = shape
    lab = nf[:, [col["L_mean"], col["a_mean"], col["b_mean"]]]
    out = np.zeros((s.size, len(EDGE_FEATURE_NAMES)), dtype=np.float64)
    out[:, 0] = np.linalg.norm(lab[s] - lab[t], axis=1)
    for c0, key in ((1, "fwd"), (4, "bwd")):
        flow = nf[:, [col[f"{key}_dy"], col[f"{key}_dx"]]]
        out[:, c0], out[:, c0 + 1], out[:, c0 + 2] = _angle_mags(flow[s], flow[t])
    out[:, 7] = weight
    out[:, 8] = np.log1p(contact)
    pos = nf[:, [col["cy"], col["cx"]]] * np.array([h, w], dtype=np.float64)
    moved = pos[s].copy()
    fwd = nf[:, [col["fwd_dy"], col["fwd_dx"]]]
    bwd = nf[:, [col["bwd_dy"], col["bwd_dx"]]]
    is_f = edge_type == FORWARD
    is_b = edge_type == BACKWARD
    moved[is_f] += fwd[s[is_f]]
    moved[is_b] += bwd[s[is_b]]
    out[:, 9] = np.linalg.norm(moved - pos[t], axis=1) / np.hypot(h, w)
    out[:, 10] = edge_type == SPATIAL
    out[:, 11] = is_f
    out[:, 12] = is_b
    return out.astype(np.float32)


@dataclass
class EdgeSet:
    """Edges of a video before features: global ids, types, weights, contact counts."""

    edge_index: np.ndarray  # (2, E) int64
    edge_type: np.ndarray  # (E,) int8
    weight: np.ndarray  # (E,) float32
    contact: np.ndarray  # (E,) int64


def video_edges(
    labels: Callable[[int], np.ndarray],
    offsets: np.ndarray,
    forward: Callable[[int], np.ndarray | None],
    backward: Callable[[int], np.ndarray | None],
    min_flow_weight: float = 0.05,
) -> EdgeSet:
    """All edges of a video.

    labels(t) -> (H, W) local labels of frame t; offsets (T+1,) node offsets;
    forward(t) -> flow t -> t+1 on frame t, backward(t) -> flow t+1 -> t on frame t+1
    (for t in 0..T-2; ``None`` skips that pair's flow edges).
    """
    n_frames = len(offsets) - 1
    counts = np.diff(offsets)
    blocks: dict[int, list[tuple[np.ndarray, ...]]] = {SPATIAL: [], FORWARD: [], BACKWARD: []}
    prev = None
    for t in range(n_frames):
        cur = labels(t)
        n = int(counts[t])
        sizes = np.bincount(cur.ravel(), minlength=n)
        s, d, c = spatial_edges(cur, n)
        perim = np.bincount(s, weights=c, minlength=n)
        blocks[SPATIAL].append(
            (s + offsets[t], d + offsets[t], c, c / np.maximum(perim[s], 1), t)
        )
        if prev is not None:
            plab, pn, psizes = prev
            f = forward(t - 1)
            if f is not None:
                s, d, c, wgt = flow_edges(plab, cur, pn, n, f, min_flow_weight, psizes)
                blocks[FORWARD].append((s + offsets[t - 1], d + offsets[t], c, wgt, t))
            b = backward(t - 1)
            if b is not None:
                s, d, c, wgt = flow_edges(cur, plab, n, pn, b, min_flow_weight, sizes)
                blocks[BACKWARD].append((s + offsets[t], d + offsets[t - 1], c, wgt, t))
        prev = (cur, n, sizes)
    src, dst, con, wts, typ = [], [], [], [], []
    for etype in (SPATIAL, FORWARD, BACKWARD):
        for s, d, c, wgt, _t in blocks[etype]:
            src.append(s)
            dst.append(d)
            con.append(c)
            wts.append(wgt)
            typ.append(np.full(s.size, etype, dtype=np.int8))
    if not src:
        z = np.zeros(0, dtype=np.int64)
        return EdgeSet(np.zeros((2, 0), np.int64), z.astype(np.int8), z.astype(np.float32), z)
    return EdgeSet(
        np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64),
        np.concatenate(typ),
        np.concatenate(wts).astype(np.float32),
        np.concatenate(con).astype(np.int64),
    )


# --------------------------------------------------------------------------- oracle
def oracle_labels(graph: VideoGraph, gt_masks: np.ndarray) -> np.ndarray:
    """(N,) int64 majority ground-truth id of every node; gt_masks (T, H, W) int ids."""
    gt = np.asarray(gt_masks)
    if gt.shape != (graph.n_frames, graph.height, graph.width):
        raise DataError(
            f"{graph.seq}: masks have shape {gt.shape}, graph expects "
            f"{(graph.n_frames, graph.height, graph.width)}"
        )
    k = int(gt.max()) + 1
    out = np.zeros(graph.n_nodes, dtype=np.int64)
    for t in range(graph.n_frames):
        loc = graph.local_source(t).astype(np.int64).ravel()
        n = int(graph.frame_offsets[t + 1] - graph.frame_offsets[t])
        cnt = np.bincount(loc * k + gt[t].ravel(), minlength=n * k).reshape(n, k)
        out[graph.frame_offsets[t] : graph.frame_offsets[t + 1]] = cnt.argmax(axis=1)
    return out


def oracle_j(graph: VideoGraph, gt_masks: np.ndarray) -> float:
    """Mean J (over objects of the mean over frames) of the oracle segmentation: every
    superpixel labelled with its majority ground-truth object."""
    node = oracle_labels(graph, gt_masks)
    pred = graph.rasterise(node)
    gt = np.asarray(gt_masks)
    objs = [o for o in np.unique(gt) if o != 0]
    if not objs:
        return 1.0
    per_obj = []
    for o in objs:
        p, g = pred == o, gt == o
        inter = np.logical_and(p, g).sum(axis=(1, 2))
        union = np.logical_or(p, g).sum(axis=(1, 2))
        j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
        per_obj.append(j.mean())
    return float(np.mean(per_obj))


# --------------------------------------------------------------------------- building
def graph_arrays(
    labels: Callable[[int], np.ndarray],
    offsets: np.ndarray,
    node_features: np.ndarray,
    feature_names: Sequence[str],
    shape: tuple[int, int],
    forward: Callable[[int], np.ndarray | None],
    backward: Callable[[int], np.ndarray | None],
    min_flow_weight: float = 0.05,
) -> tuple[EdgeSet, np.ndarray]:
    """Edges (:func:`video_edges`) and their features (:func:`edge_features`)."""
    edges = video_edges(labels, offsets, forward, backward, min_flow_weight)
    ef = edge_features(node_features, edges.edge_index, edges.edge_type, edges.weight,
                       edges.contact, shape, feature_names)  # fmt: skip
    return edges, ef


def build_video_graph(
    frames: np.ndarray,
    flows: dict[str, np.ndarray] | None = None,
    sp_params: Any = None,
    descriptor: Any = None,
    min_flow_weight: float = 0.05,
    seq: str = "video",
) -> VideoGraph:
    """Superpixels, features and graph of a video in memory (no stores).

    frames (T, H, W, 3) uint8 RGB; flows: dict with ``forward``, ``backward`` (T-1, H, W, 2)
    and optionally ``occ_forward``, ``occ_backward`` (T-1, H, W) in the flow store's
    convention, or None. sp_params: :class:`gnnannot.preprocess.superpixels.SuperpixelParams`;
    descriptor: :class:`gnnannot.preprocess.descriptors.Descriptor` (default colour).
    """
    frames = np.asarray(frames)
    t_n, h, w = frames.shape[:3]
    if flows is not None:
        flows = {k: v for k, v in flows.items() if v is not None}
    ff = FrameFlows(flows, t_n)
    p = sp_params or SuperpixelParams()
    pairs = ((ff.fwd(t), ff.bwd(t)) for t in range(t_n))
    local = np.stack(list(segment_video(iter(frames), p, pairs)))
    dtype = np.uint16 if local.max() < 65536 else np.uint32
    local = local.astype(dtype)
    counts = local.reshape(t_n, -1).max(axis=1).astype(np.int64) + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    desc = descriptor or Descriptor("colour")
    nf, d, cnt = video_features(iter(frames), iter(local), counts, ff, desc)
    edges, ef = graph_arrays(lambda t: local[t], offsets, nf, NODE_FEATURE_NAMES, (h, w),
                             ff.pair_forward, ff.pair_backward, min_flow_weight)  # fmt: skip
    return VideoGraph(
        seq=seq, height=h, width=w, frame_offsets=offsets, node_features=nf,
        node_feature_names=NODE_FEATURE_NAMES, descriptors=d, descriptor_names=desc.names,
        node_pixel_count=cnt, edge_index=edges.edge_index, edge_type=edges.edge_type,
        edge_weight=edges.weight, edge_features=ef, edge_feature_names=EDGE_FEATURE_NAMES,
        local_source=lambda t: local[t], local_all_source=lambda: local,
    )  # fmt: skip
