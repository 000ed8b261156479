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

from gnnannot.graph import oracle_labels
from gnnannot.methods.graph_method import GraphLoader, GraphMethod


def _lab_distance(graph: Any) -> np.ndarray:
    names = list(graph.edge_feature_names)
    return np.abs(graph.edge_features[:, names.index("lab_dist")].astype(np.float64))


class NearestSeed(GraphMethod):
    """Nearest scribble seed in geodesic colour distance over spatial + flow edges."""

    name = "nearest_seed"

    def __init__(self, graph_loader: GraphLoader, hop_cost: float = 1.0) -> None:
        super().__init__(graph_loader)
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


def colour_laplacian(graph: Any, beta: float) -> sp.csr_matrix:
    """``(N, N)`` graph Laplacian ``D - W`` of the symmetrised colour weights
    ``w = exp(-beta * (d / mean d)^2)`` (``d``: Lab distance of each edge)."""
    d = _lab_distance(graph)
    w = np.exp(-beta * (d / max(float(d.mean()), 1e-9)) ** 2) if d.size else d
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
) -> np.ndarray:
    """Random-walker probabilities ``(N, n_labels) float64`` for node seeds ``seed (N,)``
    (-1 unseeded, else the label), by solving ``(L_UU + eps I) X = -L_US M_S`` with
    Jacobi-preconditioned conjugate gradients (one system per label; ``x0`` ``(N,
    n_labels)`` warm-starts them, e.g. with the previous interaction's solution). Seeded
    rows are one-hot; with no seed at all every row is 0."""
    n = lap.shape[0]
    out = np.zeros((n, n_labels))
    s_idx = np.nonzero(seed >= 0)[0]
    if s_idx.size == 0:
        return out
    out[s_idx, seed[s_idx]] = 1.0
    u_idx = np.nonzero(seed < 0)[0]
    if u_idx.size == 0:
        return out
    l_u = lap[u_idx]
    l_uu = (l_u[:, u_idx] + eps * sp.identity(u_idx.size, format="csr")).tocsr()
    rhs = -(l_u[:, s_idx] @ out[s_idx])
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


class RandomWalker(GraphMethod):
    """Random-walker label propagation on the colour-weighted superpixel graph."""

    name = "random_walker"

    def __init__(
        self, graph_loader: GraphLoader, beta: float = 4.0, eps: float = 1e-6, tol: float = 1e-3
    ) -> None:
        super().__init__(graph_loader)
        self.beta = beta
        self.eps = eps
        self.tol = tol

    def on_start(self, video: Any) -> None:
        self._lap = colour_laplacian(self.graph, self.beta)
        self._probs: np.ndarray | None = None

    def predict_nodes(self) -> np.ndarray:
        if self.seeds.seeded.size == 0:
            return np.zeros(self.graph.n_nodes, dtype=np.int64)
        self._probs = random_walker_probs(
            self._lap, self.seeds.seed, self.n_objects + 1, eps=self.eps, tol=self.tol,
            x0=self._probs,
        )
        return self._probs.argmax(axis=1)


class SuperpixelOracle(GraphMethod):
    """Labels every superpixel with its majority ground-truth object (needs the GT)."""

    name = "oracle"

    def __init__(self, graph_loader: GraphLoader, gt_loader: Callable[[str], np.ndarray]):
        super().__init__(graph_loader)
        self.gt_loader = gt_loader

    def on_start(self, video: Any) -> None:
        self._oracle = oracle_labels(self.graph, self.gt_loader(video.sequence))

    def predict_nodes(self) -> np.ndarray:
        return self._oracle
