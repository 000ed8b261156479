"""Honest non-GNN baselines on the cached superpixel graph, and the superpixel oracle.

* :class:`NearestSeed` - scribble seeds propagated along flow and spatial edges; every
  superpixel takes the label of the seed nearest in geodesic colour distance
  (multi-source Dijkstra, edge cost = Lab distance + ``hop_cost``).
* :class:`RandomWalker` - Grady's random walker on the superpixel graph: edge weights
  ``w = exp(-beta * (d / mean d)^2)`` from the Lab distance ``d``; for every label the
  probability that a walk from a node first reaches a seed of that label solves the
  Dirichlet problem ``L_UU X = -L_US M_S`` (preconditioned conjugate gradients, warm
  started from the previous interaction); each node takes the most probable label.
* :class:`SuperpixelOracle` - the majority ground-truth label of every superpixel: the
  upper bound of any method that labels whole superpixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.sparse.linalg import LinearOperator, cg

from gnnannot.interaction.seeds import SeedState
from gnnannot.methods.base import GraphLoader, GraphMethod
from gnnannot.model.label_model import fit_object_models, predict_object_probs
from gnnannot.preprocess.graph import oracle_labels
from gnnannot.types import SPATIAL


def _lab_distance(graph: Any) -> np.ndarray:
    names = list(graph.edge_feature_names)
    return np.abs(graph.edge_features[:, names.index("lab_dist")].astype(np.float64))


class NearestSeed(GraphMethod):
    """Nearest scribble seed in geodesic colour distance over spatial + flow edges."""

    name = "nearest_seed"

    def __init__(
        self, graph_loader: GraphLoader, hop_cost: float = 1.0, mixed_seeds: str = "soft",
        paint_scribbles: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(graph_loader, mixed_seeds, paint_scribbles)
        self.hop_cost = hop_cost

    def on_start(self, video: Any) -> None:
        g = self.graph
        cost = _lab_distance(g) + self.hop_cost
        n = g.n_nodes
        a = sp.csr_matrix((cost, (g.edge_index[0], g.edge_index[1])), shape=(n, n))
        self._adj = a.maximum(a.T)  # symmetric costs

    def predict_nodes(self) -> np.ndarray:
        seeds = self.seeds.seeded
        if seeds.size == 0:
            return np.zeros(self.graph.n_nodes, dtype=np.int64)
        _, _, source = dijkstra(
            self._adj, directed=False, indices=seeds, min_only=True, return_predecessors=True
        )
        out = np.zeros(self.graph.n_nodes, dtype=np.int64)
        reached = source >= 0
        out[reached] = self.seeds.seed[source[reached]]
        return out


def colour_laplacian(
    graph: Any, beta: float, flow_scale: float = 1.0, flow_overlap: bool = False
) -> sp.csr_matrix:
    """``(N, N)`` graph Laplacian ``D - W`` of the symmetrised edge weights
    ``w = exp(-beta * (d / mean d)^2)`` (``d``: Lab distance of each edge).

    Flow edges (types 1, 2) get ``w * flow_scale``, times their overlap weight (the
    fraction of the source's pixels the flow carries into the target) when
    ``flow_overlap``. The defaults (1, False) weigh every edge by colour alone."""
    d = _lab_distance(graph)
    w = np.exp(-beta * (d / max(float(d.mean()), 1e-9)) ** 2) if d.size else d
    is_flow = np.asarray(graph.edge_type) != SPATIAL
    if flow_overlap:
        w = np.where(is_flow, w * np.asarray(graph.edge_weight, np.float64), w)
    if flow_scale != 1.0:
        w = np.where(is_flow, w * flow_scale, w)
    n = graph.n_nodes
    a = sp.csr_matrix((w, (graph.edge_index[0], graph.edge_index[1])), shape=(n, n))
    a = (a + a.T) * 0.5
    return (sp.diags(np.asarray(a.sum(axis=1)).ravel()) - a).tocsr()


def random_walker_probs(
    lap: sp.csr_matrix,
    seed: np.ndarray,
    n_labels: int,
    eps: float = 1e-6,
    tol: float = 1e-3,
    maxiter: int = 2000,
    x0: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    prior_weight: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Random-walker probabilities ``(N, n_labels) float64`` for node seeds ``seed (N,)``
    (-1 unseeded, else the label), by solving ``(L_UU + (eps + lambda) I) X = -L_US M_S +
    lambda P_U`` with Jacobi-preconditioned conjugate gradients (one system per label;
    ``x0`` ``(N, n_labels)`` warm-starts them, e.g. with the previous interaction's
    solution). ``prior`` ``(N, n_labels)`` with weight ``lambda = prior_weight`` (scalar
    or ``(N,)``) is Grady's random walker with priors; 0 (default) is the plain walker.
    Seeded rows are one-hot; with neither seed nor prior every row is 0."""
    n = lap.shape[0]
    out = np.zeros((n, n_labels))
    s_idx = np.nonzero(seed >= 0)[0]
    lam = np.broadcast_to(np.asarray(prior_weight, np.float64), (n,))
    use_prior = prior is not None and bool(np.any(lam > 0))
    if s_idx.size == 0 and not use_prior:
        return out
    out[s_idx, seed[s_idx]] = 1.0
    u_idx = np.nonzero(seed < 0)[0]
    if u_idx.size == 0:
        return out
    l_u = lap[u_idx]
    diag = eps + (lam[u_idx] if use_prior else 0.0)
    l_uu = (l_u[:, u_idx] + sp.diags(np.broadcast_to(diag, (u_idx.size,)))).tocsr()
    rhs = -(l_u[:, s_idx] @ out[s_idx])
    if use_prior:
        assert prior is not None
        rhs = rhs + lam[u_idx, None] * np.asarray(prior, np.float64)[u_idx]
    inv_diag = 1.0 / np.maximum(l_uu.diagonal(), 1e-12)
    precond = LinearOperator(l_uu.shape, matvec=lambda v: inv_diag * v.ravel(),
                             dtype=np.float64)
    for k in range(n_labels):
        if not rhs[:, k].any():
            continue
        start = None if x0 is None else x0[u_idx, k]
        out[u_idx, k], _ = cg(l_uu, rhs[:, k], x0=start, rtol=tol, atol=0.0,
                              maxiter=maxiter, M=precond)
    return out


def appearance_label_probs(descriptors: np.ndarray, hits: np.ndarray, l2: float = 1.0,
                           mean: np.ndarray | None = None, scale: np.ndarray | None = None
                           ) -> np.ndarray | None:
    """``(N, K + 1) float64`` label distribution of a global appearance model: one
    "object k vs rest" logistic regression per object on the appearance ``descriptors
    (N, D)`` of the scribbled nodes (``hits (N, K + 1)`` scribbled pixels per label,
    :func:`gnnannot.model.label_model.fit_object_models`), combined as independent
    votes, ``q_k ∝ p_k Π_{j≠k}(1 - p_j)``, ``q_0 ∝ Π_j (1 - p_j)``. ``None`` without
    any object model (no foreground scribble yet)."""
    models = fit_object_models(descriptors, np.asarray(hits).T, l2=l2, mean=mean,
                               scale=scale)
    if all(m is None for m in models):
        return None
    p = predict_object_probs(models, descriptors).T.astype(np.float64)  # (N, K)
    p = np.clip(p, 1e-4, 1 - 1e-4)
    rest = np.prod(1.0 - p, axis=1, keepdims=True)
    q = np.concatenate([rest, p / (1.0 - p) * rest], axis=1)
    return q / q.sum(axis=1, keepdims=True)


class AppearanceModel:
    """A video's appearance descriptors ``(N, D)`` with their statistics; called with the
    scribble hits ``(N, K + 1)`` it returns :func:`appearance_label_probs`."""

    def __init__(self, descriptors: np.ndarray, l2: float = 1.0) -> None:
        self.descriptors = np.asarray(descriptors, np.float32)
        d64 = self.descriptors.astype(np.float64)
        self.mean, self.scale = d64.mean(axis=0), d64.std(axis=0)
        self.l2 = l2

    def __call__(self, hits: np.ndarray) -> np.ndarray | None:
        return appearance_label_probs(self.descriptors, hits, self.l2, self.mean,
                                      self.scale)


def seeded_walker_probs(
    lap: sp.csr_matrix,
    seeds: SeedState,
    n_labels: int,
    prev_labels: np.ndarray | None = None,
    prior_weight: float = 0.0,
    soft_seed_weight: float = 0.0,
    eps: float = 1e-6,
    tol: float = 1e-3,
    x0: np.ndarray | None = None,
    appearance: np.ndarray | None = None,
    appearance_weight: float = 0.0,
    background_weight: float = 0.0,
) -> np.ndarray | None:
    """Random-walker probabilities ``(N, n_labels)`` for a session's ``seeds``: hard seeds,
    the previous labels ``prev_labels (N,)`` as a prior of weight ``prior_weight``, the
    soft seeds (nodes scribbled with several labels: their label fractions) with weight
    ``soft_seed_weight`` and a global appearance model's label distribution
    ``appearance (N, n_labels)`` (:func:`appearance_label_probs`) with weight
    ``appearance_weight`` and an implicit background, a prior of weight
    ``background_weight`` towards label 0 on every node (a walk is absorbed by the
    background at that rate, so a label fades with its graph distance from its seeds even
    when no background stroke exists yet) (:func:`random_walker_probs` with priors).
    ``None`` when there is
    neither a seed nor a prior. The random walker and the GNN's random-walker input both
    use it, so the GNN's prior is the baseline it is measured against."""
    n = lap.shape[0]
    prior = np.zeros((n, n_labels))
    weight = np.zeros(n)
    if appearance is not None and appearance_weight > 0:
        prior += appearance_weight * np.asarray(appearance, np.float64)
        weight += appearance_weight
    if background_weight > 0:
        prior[:, 0] += background_weight
        weight += background_weight
    if prev_labels is not None and prior_weight > 0:
        prior[np.arange(n), prev_labels] += prior_weight  # adds to the other priors
        weight += prior_weight
    soft = seeds.soft_nodes
    if soft.size and soft_seed_weight > 0:
        hits = seeds.hits[soft]
        frac = hits / np.maximum(hits.sum(axis=1, keepdims=True), 1e-9)
        prior[soft] += soft_seed_weight * frac
        weight[soft] += soft_seed_weight
    if seeds.seeded.size == 0 and not weight.any():
        return None
    prior = prior / np.maximum(weight, 1e-12)[:, None]
    return random_walker_probs(lap, seeds.seed, n_labels, eps=eps, tol=tol, x0=x0,
                               prior=prior, prior_weight=weight)


def frame_normalised_labels(
    probs: np.ndarray, node_frame: np.ndarray, n_frames: int, threshold: float = 0.5
) -> np.ndarray:
    """``(N,) int64`` labels from random-walker ``probs (N, K + 1)`` judged per frame.

    Far from the scribbled frames a walk mixes spatially before it reaches a seed, so
    every object's probability shrinks with the distance in time while its shape within
    a frame stays. Each object's probability is divided by its maximum over the node's
    frame (capped at 1); a node takes the object with the largest ratio if that ratio exceeds
    ``threshold``, else background (0). ``threshold <= 0`` gives the plain argmax.
    """
    p = np.asarray(probs, np.float64)
    if threshold <= 0 or p.shape[1] < 2:
        return p.argmax(axis=1).astype(np.int64)
    frame = np.asarray(node_frame, np.int64)
    obj = p[:, 1:]
    peak = np.zeros((n_frames, obj.shape[1]))
    np.maximum.at(peak, frame, obj)
    # peaks above 1 are solver overshoot: normalise only frames whose label faded
    ratio = obj / np.clip(peak[frame], 1e-12, 1.0)
    best = ratio.argmax(axis=1)
    keep = ratio[np.arange(p.shape[0]), best] > threshold
    return np.where(keep, best + 1, 0).astype(np.int64)


# RandomWalker options of the plain colour walker (as before the real-footage fixes, and
# as the GNN's random-walker input feature computes it)
PLAIN_WALKER: dict[str, Any] = dict(
    beta=4.0, flow_scale=1.0, flow_overlap=False, frame_threshold=0.0, prior_weight=0.0,
    soft_seed_weight=0.0, appearance_weight=0.0, background_weight=0.0,
)


class RandomWalker(GraphMethod):
    """Random-walker label propagation on the colour-weighted superpixel graph.

    ``beta``: colour contrast of the edge weights; ``flow_scale`` / ``flow_overlap``:
    flow edges weigh ``flow_scale`` times more, and by the pixels the flow carries
    (:func:`colour_laplacian`), so labels travel along time before they mix within a
    frame; ``frame_threshold``: per-frame normalised decision
    (:func:`frame_normalised_labels`; 0 = argmax, the default: 0.5 lifts real footage
    but cost J on a short synthetic clip, 0.976 -> 0.658); ``prior_weight``: the previous
    interaction's labels as a prior of this weight (Grady's priors; 0 = none), which keeps
    what earlier scribbles established; soft seeds of the :class:`SeedState` (nodes with
    strokes of several labels) enter the prior with ``soft_seed_weight``."""

    name = "random_walker"

    def __init__(
        self,
        graph_loader: GraphLoader,
        beta: float = 10.0,
        flow_scale: float = 50.0,
        flow_overlap: bool = True,
        frame_threshold: float = 0.0,
        prior_weight: float = 0.005,
        soft_seed_weight: float = 1.0,
        appearance_weight: float = 0.0,
        background_weight: float = 0.0,
        eps: float = 1e-6,
        tol: float = 1e-3,
        mixed_seeds: str = "soft",
        paint_scribbles: bool = True,
    ) -> None:
        super().__init__(graph_loader, mixed_seeds, paint_scribbles)
        self.appearance_weight = appearance_weight
        self.background_weight = background_weight
        self.beta = beta
        self.flow_scale = flow_scale
        self.flow_overlap = flow_overlap
        self.frame_threshold = frame_threshold
        self.prior_weight = prior_weight
        self.soft_seed_weight = soft_seed_weight
        self.eps = eps
        self.tol = tol

    def on_start(self, video: Any) -> None:
        self._lap = colour_laplacian(self.graph, self.beta, self.flow_scale, self.flow_overlap)
        self._probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._node_frame = self.graph.node_frame
        self._appearance = (AppearanceModel(self.graph.descriptors)
                            if self.appearance_weight > 0 else None)

    def predict_nodes(self) -> np.ndarray:
        app = None if self._appearance is None else self._appearance(self.seeds.hits)
        probs = seeded_walker_probs(
            self._lap, self.seeds, self.n_objects + 1, self._labels, self.prior_weight,
            self.soft_seed_weight, eps=self.eps, tol=self.tol, x0=self._probs,
            appearance=app, appearance_weight=self.appearance_weight,
            background_weight=self.background_weight,
        )
        if probs is None:
            return np.zeros(self.graph.n_nodes, dtype=np.int64)
        self._probs = probs
        self._labels = frame_normalised_labels(
            self._probs, self._node_frame, self.graph.n_frames, self.frame_threshold
        )
        return self._labels


class SuperpixelOracle(GraphMethod):
    """Labels every superpixel with its majority ground-truth object (needs the GT)."""

    name = "oracle"
    paint_scribbles = False  # the superpixel ceiling, independent of the scribbles

    def __init__(self, graph_loader: GraphLoader, gt_loader: Callable[[str], np.ndarray]):
        super().__init__(graph_loader)
        self.gt_loader = gt_loader

    def on_start(self, video: Any) -> None:
        self._oracle = oracle_labels(self.graph, self.gt_loader(video.sequence))

    def predict_nodes(self) -> np.ndarray:
        return self._oracle
