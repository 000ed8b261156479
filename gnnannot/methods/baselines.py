"""Honest non-GNN baselines on the cached superpixel graph, and the superpixel oracle.

* :class:`NearestSeed` - scribble seeds propagated along flow and spatial edges; every
  superpixel takes the label of the seed nearest in geodesic colour distance
  (multi-source Dijkstra, edge cost = Lab distance + ``hop_cost``).
* :class:`RandomWalker` - Grady's random walker on the superpixel graph: edge weights
  ``w = exp(-beta * (d / mean d)^2)`` from the Lab distance ``d``; for every label the
  probability that a walk from a node first reaches a seed of that label solves the
  Dirichlet problem ``L_UU X = -L_US M_S`` (one sparse LU factorisation, K + 1 right-hand
  sides); each node takes the most probable label.
* :class:`SuperpixelOracle` - the majority ground-truth label of every superpixel: the
  upper bound of any method that labels whole superpixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.sparse.linalg import splu

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


class RandomWalker(GraphMethod):
    """Random-walker label propagation on the colour-weighted superpixel graph."""

    name = "random_walker"

    def __init__(self, graph_loader: GraphLoader, beta: float = 4.0, eps: float = 1e-6) -> None:
        super().__init__(graph_loader)
        self.beta = beta
        self.eps = eps

    def on_start(self, video: Any) -> None:
        g = self.graph
        d = _lab_distance(g)
        w = np.exp(-self.beta * (d / max(d.mean(), 1e-9)) ** 2)
        n = g.n_nodes
        a = sp.csr_matrix((w, (g.edge_index[0], g.edge_index[1])), shape=(n, n))
        a = (a + a.T) * 0.5
        self._lap = (sp.diags(np.asarray(a.sum(axis=1)).ravel()) - a).tocsr()

    def predict_nodes(self) -> np.ndarray:
        n = self.graph.n_nodes
        seed = self.seeds.seed
        s_idx = np.nonzero(seed >= 0)[0]
        if s_idx.size == 0:
            return np.zeros(n, dtype=np.int64)
        u_idx = np.nonzero(seed < 0)[0]
        out = np.zeros(n, dtype=np.int64)
        out[s_idx] = seed[s_idx]
        if u_idx.size == 0:
            return out
        k1 = self.n_objects + 1
        m_s = np.zeros((s_idx.size, k1))
        m_s[np.arange(s_idx.size), seed[s_idx]] = 1.0
        l_uu = self._lap[u_idx][:, u_idx] + self.eps * sp.identity(u_idx.size, format="csr")
        rhs = -(self._lap[u_idx][:, s_idx] @ m_s)
        probs = splu(l_uu.tocsc()).solve(np.asarray(rhs))
        out[u_idx] = probs.argmax(axis=1)
        return out


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
