"""Honest non-GNN baselines on the cached superpixel graph, and the superpixel oracle.

* :class:`NearestSeed` - scribble seeds propagated along flow and spatial edges; every
  superpixel takes the label of the seed nearest in geodesic colour distance
  (multi-source Dijkstra, edge cost = Lab distance + ``hop_cost``).
* :class:`RandomWalker` - Grady's random walker on the superpixel graph: edge weights
  ``w = exp(-beta * (d / mean d)^2)`` from the Lab distance ``d``; for every label the
  probability that a walk from a node first reaches a seed of that label solves the
  Dirichlet problem ``L_UU X = -L_US M_S`` (preconditioned conjugate gradients, warm
  started from the previous interaction, BLAS held to one thread; non-convergence is
  reported, :class:`SolverWarning`); each node takes the most probable label.
* :class:`SuperpixelOracle` - the majority ground-truth label of every superpixel: the
  upper bound of any method that labels whole superpixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.sparse.linalg import LinearOperator, cg

from gnnannot.interaction.seeds import SeedState
from gnnannot.methods.base import GraphLoader, GraphMethod
from gnnannot.methods.relay import relay_labels
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


class SolverWarning(RuntimeWarning):
    """A random-walker system did not reach its tolerance within ``maxiter`` iterations
    (the returned probabilities are the last iterate)."""


@dataclass
class SolveReport:
    """What one :func:`random_walker_probs` call did: per solved label its CG iterations,
    final relative residual ``||r|| / ||b||`` and whether it met ``tol``; the size of the
    unseeded system."""

    unknowns: int = 0
    labels: list[int] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.converged)


#: BLAS threads while the walker's conjugate gradients run (None: leave them as they
#: are, the behaviour before). CG is a chain of sparse products and dot products on
#: vectors of ~1e5 entries: memory bound, nothing for OpenBLAS's threads to share, while
#: their busy-waiting workers compete with the sparse products (measured on a shared
#: 2-core machine: 10-20x slower CG with 2 BLAS threads than with 1,
#: benchmarks/interaction_latency.py). Benchmarks set None to time the old behaviour.
SOLVER_BLAS_THREADS: int | None = 1
_THREADPOOLS: Any = None


def _blas_limit() -> Any:
    """A context holding BLAS to :data:`SOLVER_BLAS_THREADS` threads (no-op for None).
    The threadpool controller is built once: a fresh ``threadpool_limits`` rescans the
    loaded libraries (~5 ms)."""
    global _THREADPOOLS
    if SOLVER_BLAS_THREADS is None:
        import contextlib

        return contextlib.nullcontext()
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=SOLVER_BLAS_THREADS, user_api="blas")


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
    report: SolveReport | None = None,
) -> np.ndarray:
    """Random-walker probabilities ``(N, n_labels) float64`` for node seeds ``seed (N,)``
    (-1 unseeded, else the label), by solving ``(L_UU + (eps + lambda) I) X = -L_US M_S +
    lambda P_U`` with Jacobi-preconditioned conjugate gradients (one system per label,
    stopped at ``||r|| <= tol ||b||``; ``x0`` ``(N, n_labels)`` warm-starts them, e.g.
    with the previous interaction's solution). ``prior`` ``(N, n_labels)`` with weight
    ``lambda = prior_weight`` (scalar or ``(N,)``) is Grady's random walker with priors;
    0 (default) is the plain walker. Seeded rows are one-hot; with neither seed nor prior
    every row is 0. A label whose system is still above ``tol`` after ``maxiter``
    iterations raises a :class:`SolverWarning` (its last iterate is returned); ``report``
    (a :class:`SolveReport`) receives the iterations and residuals of every label."""
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
    if report is not None:
        report.unknowns = int(u_idx.size)
    with _blas_limit():
        for k in range(n_labels):
            b = rhs[:, k]
            if not b.any():
                continue
            start = None if x0 is None else x0[u_idx, k]
            count = [0]

            def step(_x: np.ndarray, count: list[int] = count) -> None:
                count[0] += 1

            x, info = cg(l_uu, b, x0=start, rtol=tol, atol=0.0, maxiter=maxiter, M=precond,
                         callback=step)
            out[u_idx, k] = x
            if info != 0 or report is not None:
                res = float(np.linalg.norm(b - l_uu @ x) / np.linalg.norm(b))
                if report is not None:
                    report.labels.append(k)
                    report.iterations.append(count[0])
                    report.residuals.append(res)
                    report.converged.append(info == 0)
                if info != 0:
                    warnings.warn(
                        f"random walker: label {k} did not converge in {maxiter} CG "
                        f"iterations (relative residual {res:.2e} > tol {tol:g}, "
                        f"{u_idx.size} unknowns); its probabilities are the last iterate",
                        SolverWarning, stacklevel=2)
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
    maxiter: int = 2000,
    report: SolveReport | None = None,
    node_prior: tuple[np.ndarray, np.ndarray] | None = None,
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
    ``node_prior`` ``(labels (N,) int, weight (N,))``: one more prior, towards ``labels``
    with a per-node weight (the annotated-frame mask of :class:`RandomWalker`).
    ``None`` when there is
    neither a seed nor a prior. The random walker and the GNN's random-walker input both
    use it, so the GNN's prior is the baseline it is measured against. ``maxiter`` and
    ``report`` are :func:`random_walker_probs`'s."""
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
    if node_prior is not None:
        lab, w = np.asarray(node_prior[0], np.int64), np.asarray(node_prior[1], np.float64)
        prior[np.arange(n), lab] += w
        weight += w
    soft = seeds.soft_nodes
    if soft.size and soft_seed_weight > 0:
        hits = seeds.hits[soft]
        frac = hits / np.maximum(hits.sum(axis=1, keepdims=True), 1e-9)
        prior[soft] += soft_seed_weight * frac
        weight[soft] += soft_seed_weight
    if seeds.seeded.size == 0 and not weight.any():
        return None
    prior = prior / np.maximum(weight, 1e-12)[:, None]
    return random_walker_probs(lap, seeds.seed, n_labels, eps=eps, tol=tol, maxiter=maxiter,
                               x0=x0, prior=prior, prior_weight=weight, report=report)


def frame_ratio(obj: np.ndarray, node_frame: np.ndarray, n_frames: int) -> np.ndarray:
    """``(N, K) float64``: each object's probability ``obj (N, K)`` divided by its maximum
    over the node's frame (``node_frame (N,)`` in ``0..n_frames-1``); a maximum above 1
    (solver overshoot) divides by 1, so only frames whose label faded are normalised."""
    p = np.asarray(obj, np.float64)
    frame = np.asarray(node_frame, np.int64)
    peak = np.zeros((n_frames, p.shape[1]))
    np.maximum.at(peak, frame, p)
    return p / np.clip(peak[frame], 1e-12, 1.0)


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
    ratio = frame_ratio(p[:, 1:], node_frame, n_frames)
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
    strokes of several labels) enter the prior with ``soft_seed_weight``.

    ``mask_weight`` (0 = off): the annotated-frame mask. A scribble covers a part of the
    object, so on real footage only the scribbled colours travel to the other frames.
    With ``mask_weight > 0`` every interaction solves twice: the first solve's labels of
    the unscribbled nodes on the scribbled frames (the frames' segmentation) become a
    prior of that weight, and pseudo-scribbles of the appearance model, for the second
    solve, so the whole segmented object of those frames is propagated.

    ``relay`` (off by default): the labels of the scribbled frames are carried to the
    other frames one frame at a time (:func:`gnnannot.methods.relay.relay_labels`, with
    the global solve as a prior of weight ``relay_prior``), so they do not fade with
    the distance from the scribbles. ``relay_max_frames`` > 0: both (relay and
    ``mask_weight``) only while at most that many frames carry scribbles (measured on
    real footage: they lift J after the first scribble but cost later interactions)."""

    name = "random_walker"
    session_state = ("_probs", "_labels", "last_solve")

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
        mask_weight: float = 0.0,
        relay: bool = False,
        relay_prior: float = 0.01,
        relay_max_frames: int = 0,
        eps: float = 1e-6,
        tol: float = 1e-3,
        maxiter: int = 2000,
        mixed_seeds: str = "soft",
        paint_scribbles: bool = True,
    ) -> None:
        super().__init__(graph_loader, mixed_seeds, paint_scribbles)
        self.maxiter = maxiter
        self.mask_weight = mask_weight
        self.relay = relay
        self.relay_prior = relay_prior
        self.relay_max_frames = relay_max_frames
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
        self.last_solve: SolveReport | None = None  # the last interaction's CG report
        self._node_frame = self.graph.node_frame
        self._appearance = (AppearanceModel(self.graph.descriptors)
                            if self.appearance_weight > 0 else None)

    def predict_nodes(self) -> np.ndarray:
        self.last_solve = SolveReport()
        labels = self._solve(self.seeds.hits, None)
        if labels is None:
            return np.zeros(self.graph.n_nodes, dtype=np.int64)
        early = (self.relay_max_frames <= 0
                 or len(self.seeds.annotated) <= self.relay_max_frames)
        if self.mask_weight > 0 and early:
            second = self._solve(*self._frame_mask(labels))
            labels = labels if second is None else second
        if self.relay and self.seeds.annotated and early:
            labels = relay_labels(self._lap, self.graph.frame_offsets, labels,
                                  self.n_objects + 1, self.seeds.annotated, self.seeds.seed,
                                  random_walker_probs, self.relay_prior)
        self._labels = labels
        return labels

    def _solve(self, hits: np.ndarray, node_prior: tuple[np.ndarray, np.ndarray] | None
               ) -> np.ndarray | None:
        """One walker solve (appearance model fitted on ``hits``); the node labels."""
        app = None if self._appearance is None else self._appearance(hits)
        probs = seeded_walker_probs(
            self._lap, self.seeds, self.n_objects + 1, self._labels, self.prior_weight,
            self.soft_seed_weight, eps=self.eps, tol=self.tol, x0=self._probs,
            appearance=app, appearance_weight=self.appearance_weight,
            background_weight=self.background_weight, maxiter=self.maxiter,
            report=self.last_solve, node_prior=node_prior,
        )
        if probs is None:
            return None
        self._probs = probs
        return frame_normalised_labels(
            self._probs, self._node_frame, self.graph.n_frames, self.frame_threshold
        )

    def _frame_mask(self, labels: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Hits with the unscribbled nodes of the scribbled frames as pseudo-scribbles of
        their ``labels``, and those labels as a node prior of weight ``mask_weight``."""
        on = np.isin(self._node_frame, sorted(self.seeds.annotated))
        free = on & (self.seeds.hits.sum(axis=1) == 0)
        hits = self.seeds.hits.copy()
        hits[np.flatnonzero(free), labels[free]] = 1.0
        return hits, (labels, np.where(free, self.mask_weight, 0.0))


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
