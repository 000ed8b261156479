"""Dynamic node features, rebuilt for every object at every interaction.

Array in (numpy), tensor out (torch): :class:`DynamicFeatureBuilder` is set up once per
video (node frames, flow edges, appearance descriptors) and then called at each
interaction with the scribble hits so far, the annotated frames and the previous
prediction; it returns ``(K, N, F_dyn)`` float32 with the features of
:data:`DYNAMIC_FEATURE_NAMES` (in that order), all in [0, 1]:

==================  ======================================================================
frame_annotated     1 if the node's frame has been scribbled at any interaction so far
frame_new           1 if the node's frame was scribbled at this interaction
annot_proximity     ``proximity_decay ** |t - t_a|`` for the nearest annotated frame t_a
                    (0 when no frame is annotated yet)
fg_hit              1 if a scribble of this object touches the node (all interactions)
bg_hit              1 if a background scribble or another object's scribble touches it
fg_prop             fg seeds (``fg_hit``) propagated along flow edges, see below
bg_prop             bg seeds (``bg_hit``) propagated along flow edges
lr_fg_prob          "this object" probability of a per-session logistic regression on the
                    appearance descriptors of the scribbled nodes (0 without fg scribbles
                    or descriptors), see :mod:`gnnannot.model.label_model`
prev_prob           the previous prediction of this object (0 at the first interaction)
==================  ======================================================================

Scribble hits: the caller rasterises the scribbles and gives, per node, the number of
scribble pixels of each label, ``hits (K+1, N)`` (row 0 background, row k object k),
summed over all interactions so far. :func:`count_scribble_hits` builds it from the
superpixel id and label of every scribble pixel.

Seed propagation along flow edges. Edge types: 0 spatial (ignored here), 1 forward flow
(frame t -> t+1), 2 backward flow (t+1 -> t); orientation is taken from the node frames,
so an edge listed in either direction works, and if no type-2 edge exists the forward
edges are used reversed for the backward pass. With ``w_ij >= 0`` the weight of the flow
edge from j into i and ``Δ_ij`` its frame distance, the forward pass visits the frames
in increasing order and sets, for the nodes i of each frame::

    f_i = max(seed_i, Σ_j  (w_ij / Σ_j' w_ij') · decay^Δ_ij · f_j)

(the weighted mean of the already final predecessors' confidence, decayed per frame);
the backward pass does the same in decreasing frame order along backward edges, and the
feature is ``max(forward, backward)``. A node of the frame next to a seed linked only to
it gets ``decay``; two frames away ``decay²``, etc. Each frame is one sparse-matrix
product over all objects' fg and bg seeds at once (scipy.sparse CSR).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
import torch

from gnnannot.errors import DataError
from gnnannot.model.hits import count_scribble_hits
from gnnannot.model.label_model import fit_object_models, predict_object_probs

__all__ = [
    "DYNAMIC_FEATURE_NAMES",
    "DynamicFeatureBuilder",
    "build_dynamic_features",
    "count_scribble_hits",
]

DYNAMIC_FEATURE_NAMES: tuple[str, ...] = (
    "frame_annotated",
    "frame_new",
    "annot_proximity",
    "fg_hit",
    "bg_hit",
    "fg_prop",
    "bg_prop",
    "lr_fg_prob",
    "prev_prob",
)


def _frame_blocks(sorted_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique frame values and the [start, end) boundaries of each in sorted order."""
    uniq, start = np.unique(sorted_frames, return_index=True)
    bounds = np.r_[start, sorted_frames.size]
    return uniq, bounds


class DynamicFeatureBuilder:
    """Per-video precomputation + per-interaction feature construction.

    Args:
        node_frame: ``(N,)`` int frame index of each node.
        edge_index: ``(2, E)`` int edges (any orientation, see module docstring).
        edge_type: ``(E,)`` int 0 spatial, 1 forward flow, 2 backward flow.
        edge_weight: optional ``(E,)`` non-negative flow weights (default 1).
        descriptors: optional ``(N, D)`` appearance descriptors for the logistic
            regression (``lr_fg_prob`` is 0 without them).
        decay: per-frame confidence decay of the seed propagation.
        proximity_decay: per-frame decay of ``annot_proximity``.
        l2: L2 strength of the logistic regression.
    """

    feature_names: tuple[str, ...] = DYNAMIC_FEATURE_NAMES

    def __init__(
        self,
        node_frame: np.ndarray,
        edge_index: np.ndarray,
        edge_type: np.ndarray,
        edge_weight: np.ndarray | None = None,
        descriptors: np.ndarray | None = None,
        decay: float = 0.9,
        proximity_decay: float = 0.9,
        l2: float = 1.0,
    ) -> None:
        node_frame = np.asarray(node_frame).reshape(-1)
        edge_index = np.asarray(edge_index)
        edge_type = np.asarray(edge_type).reshape(-1)
        n = node_frame.size
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise DataError(f"edge_index: expected shape (2, E), found {edge_index.shape}")
        n_e = edge_index.shape[1]
        if edge_type.size != n_e:
            raise DataError(f"edge_type: expected {n_e} entries, found {edge_type.size}")
        if edge_weight is None:
            edge_weight = np.ones(n_e, np.float64)
        edge_weight = np.asarray(edge_weight, np.float64).reshape(-1)
        if edge_weight.size != n_e:
            raise DataError(f"edge_weight: expected {n_e} entries, found {edge_weight.size}")
        if n_e and (edge_index.min() < 0 or edge_index.max() >= n):
            raise DataError(f"edge_index: node ids must be in [0, {n}), found "
                            f"[{edge_index.min()}, {edge_index.max()}]")
        if not 0.0 <= decay <= 1.0 or not 0.0 <= proximity_decay <= 1.0:
            raise DataError(f"decay/proximity_decay must be in [0, 1], found "
                            f"{decay}/{proximity_decay}")
        if descriptors is not None:
            descriptors = np.asarray(descriptors)
            if descriptors.ndim != 2 or descriptors.shape[0] != n:
                raise DataError(f"descriptors: expected shape ({n}, D), found "
                                f"{descriptors.shape}")
            if descriptors.dtype not in (np.float32, np.float64):
                descriptors = descriptors.astype(np.float32)
            d64 = descriptors.astype(np.float64)
            self.desc_mean = d64.mean(axis=0)
            self.desc_scale = d64.std(axis=0)
        self.descriptors = descriptors
        self.n_nodes = n
        self.node_frame = node_frame.astype(np.int64)
        self.decay = float(decay)
        self.proximity_decay = float(proximity_decay)
        self.l2 = float(l2)

        # nodes sorted by frame: every frame is a contiguous block of rows
        self.order = np.argsort(self.node_frame, kind="stable")
        self.rank = np.empty(n, np.int64)
        self.rank[self.order] = np.arange(n)
        sorted_frames = self.node_frame[self.order]
        self.frames, self.bounds = _frame_blocks(sorted_frames)
        self.frame_of_node_block = np.searchsorted(self.frames, self.node_frame)

        src, dst = edge_index[0].astype(np.int64), edge_index[1].astype(np.int64)
        fwd_m = edge_type == 1
        bwd_m = edge_type == 2
        self.fwd = self._flow_matrix(src[fwd_m], dst[fwd_m], edge_weight[fwd_m], forward=True)
        if bwd_m.any():
            self.bwd = self._flow_matrix(src[bwd_m], dst[bwd_m], edge_weight[bwd_m],
                                         forward=False)
        else:
            self.bwd = self._flow_matrix(src[fwd_m], dst[fwd_m], edge_weight[fwd_m],
                                         forward=False)
        self._fwd_blocks = self._row_blocks(self.fwd)
        self._bwd_blocks = self._row_blocks(self.bwd)[::-1]

    def _flow_matrix(self, a: np.ndarray, b: np.ndarray, w: np.ndarray, forward: bool
                     ) -> sp.csr_matrix:
        """CSR (N, N) in sorted-node space, rows = targets: normalised, decayed weights.

        Forward: each edge is oriented from the earlier to the later frame; backward: from
        the later to the earlier. Same-frame edges and non-positive weights are dropped.
        """
        fa, fb = self.node_frame[a], self.node_frame[b]
        swap = fa > fb if forward else fa < fb
        s = np.where(swap, b, a)
        t = np.where(swap, a, b)
        dt = np.abs(fb - fa)
        keep = (dt > 0) & (w > 0)
        s, t, w, dt = s[keep], t[keep], w[keep], dt[keep]
        n = self.n_nodes
        rows, cols = self.rank[t], self.rank[s]
        row_sum = np.bincount(rows, weights=w, minlength=n)
        vals = w / row_sum[rows] * self.decay ** dt.astype(np.float64)
        mat = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
        mat.sum_duplicates()
        return mat

    def _row_blocks(self, mat: sp.csr_matrix) -> list[tuple[int, int, sp.csr_matrix]]:
        """Per frame (ascending), the frame's row block, skipping blocks without edges."""
        out = []
        for i in range(self.frames.size):
            a, b = int(self.bounds[i]), int(self.bounds[i + 1])
            if mat.indptr[b] > mat.indptr[a]:
                out.append((a, b, mat[a:b]))
        return out

    def propagate(self, seeds: np.ndarray) -> np.ndarray:
        """Propagate seed confidences ``(N, C)`` (node order) forward and backward along
        the flow edges; returns ``(N, C)`` float32 ``max(forward, backward)``."""
        seeds = np.asarray(seeds, np.float64)
        squeeze = seeds.ndim == 1
        if squeeze:
            seeds = seeds[:, None]
        s = seeds[self.order]
        out = []
        for blocks in (self._fwd_blocks, self._bwd_blocks):
            conf = s.copy()
            for a, b, block in blocks:
                np.maximum(conf[a:b], block @ conf, out=conf[a:b])
            out.append(conf)
        res = np.maximum(out[0], out[1])[self.rank].astype(np.float32)
        return res[:, 0] if squeeze else res

    def frame_features(self, annotated_frames: Iterable[int], new_frames: Iterable[int]
                       ) -> np.ndarray:
        """``(3, N)`` float32: frame_annotated, frame_new, annot_proximity."""
        ann = np.unique(np.asarray(list(annotated_frames), np.int64))
        new = np.unique(np.asarray(list(new_frames), np.int64))
        ann = np.union1d(ann, new)  # a newly annotated frame is annotated
        f = self.frames
        is_ann = np.isin(f, ann)
        is_new = np.isin(f, new)
        if ann.size:
            pos = np.clip(np.searchsorted(ann, f), 0, ann.size - 1)
            dist = np.minimum(np.abs(f - ann[pos]), np.abs(f - ann[np.maximum(pos - 1, 0)]))
            prox = self.proximity_decay ** dist.astype(np.float64)
        else:
            prox = np.zeros(f.size)
        per_frame = np.stack([is_ann, is_new, prox]).astype(np.float32)  # (3, n_frames)
        return per_frame[:, self.frame_of_node_block]

    def __call__(
        self,
        hits: np.ndarray,
        annotated_frames: Iterable[int],
        new_frames: Iterable[int],
        prev_probs: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Build the features of one interaction.

        Args:
            hits: ``(K+1, N)`` cumulative scribble pixel counts (row 0 background).
            annotated_frames: frames scribbled at any interaction so far (frame values as
                in ``node_frame``).
            new_frames: frames scribbled at this interaction.
            prev_probs: ``(K, N)`` previous prediction, or None (zeros).

        Returns:
            ``(K, N, len(DYNAMIC_FEATURE_NAMES))`` float32 CPU tensor.
        """
        n = self.n_nodes
        hits = np.asarray(hits)
        if hits.ndim != 2 or hits.shape[1] != n or hits.shape[0] < 2:
            raise DataError(f"hits: expected shape (K+1, {n}) with K >= 1, found {hits.shape}")
        n_obj = hits.shape[0] - 1
        if prev_probs is not None:
            prev_probs = np.asarray(prev_probs)
            if prev_probs.shape != (n_obj, n):
                raise DataError(f"prev_probs: expected shape ({n_obj}, {n}), found "
                                f"{prev_probs.shape}")
        out = np.zeros((n_obj, n, len(DYNAMIC_FEATURE_NAMES)), np.float32)
        out[:, :, 0:3] = self.frame_features(annotated_frames, new_frames).T[None]
        scribbled = hits > 0
        fg = scribbled[1:]  # (K, N)
        # bg for k: hit by a bg scribble or another object's scribble
        n_labels_hit = scribbled.sum(axis=0, dtype=np.int64)
        bg = (n_labels_hit[None] - fg) > 0
        out[:, :, 3] = fg
        out[:, :, 4] = bg
        seeds = np.concatenate([fg.T, bg.T], axis=1).astype(np.float64)  # (N, 2K)
        prop = self.propagate(seeds)
        out[:, :, 5] = prop[:, :n_obj].T
        out[:, :, 6] = prop[:, n_obj:].T
        if self.descriptors is not None:
            models = fit_object_models(self.descriptors, hits, l2=self.l2,
                                       mean=self.desc_mean, scale=self.desc_scale)
            out[:, :, 7] = predict_object_probs(models, self.descriptors)
        if prev_probs is not None:
            out[:, :, 8] = prev_probs
        return torch.from_numpy(out)


def build_dynamic_features(
    node_frame: np.ndarray,
    edge_index: np.ndarray,
    edge_type: np.ndarray,
    hits: np.ndarray,
    annotated_frames: Iterable[int],
    new_frames: Iterable[int],
    edge_weight: np.ndarray | None = None,
    descriptors: np.ndarray | None = None,
    prev_probs: np.ndarray | None = None,
    decay: float = 0.9,
    proximity_decay: float = 0.9,
    l2: float = 1.0,
) -> torch.Tensor:
    """One-shot :class:`DynamicFeatureBuilder` (prefer the class across interactions:
    it keeps the flow matrices and descriptor statistics). Returns ``(K, N, F_dyn)``."""
    builder = DynamicFeatureBuilder(node_frame, edge_index, edge_type, edge_weight,
                                    descriptors, decay=decay,
                                    proximity_decay=proximity_decay, l2=l2)
    return builder(hits, annotated_frames, new_frames, prev_probs)
