"""The robot's fast cycle finder returns exactly what networkx.find_cycle returns."""

from __future__ import annotations

import networkx as nx
import numpy as np

from gnnannot.ivos.robot import ScribbleRobot, find_cycle


def _adj(g: nx.Graph) -> dict[int, list[int]]:
    return {u: list(nbrs) for u, nbrs in g.adj.items()}


def test_find_cycle_matches_networkx_on_random_graphs() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(2, 40))
        g = nx.gnm_random_graph(n, int(rng.integers(0, 2 * n)), seed=trial)
        # shuffle node and neighbour insertion order
        h = nx.Graph()
        h.add_nodes_from(rng.permutation(n).tolist())
        edges = list(g.edges())
        for i in rng.permutation(len(edges)):
            h.add_edge(*edges[i])
        adj = _adj(h)
        while True:
            try:
                expected = nx.find_cycle(h)
            except nx.NetworkXNoCycle:
                assert find_cycle(adj) is None
                break
            got = find_cycle(adj)
            assert got == [tuple(e) for e in expected]
            u, v = expected[int(rng.integers(len(expected)))]
            h.remove_edge(u, v)
            adj[u].remove(v)
            adj[v].remove(u)


def test_acyclic_subgraphs_are_spanning_forests_of_skeleton_graphs() -> None:
    rng = np.random.default_rng(1)
    robot = ScribbleRobot()
    for _ in range(10):
        mask = np.zeros((60, 80), bool)
        for _ in range(4):
            y, x = rng.integers(5, 55), rng.integers(5, 75)
            mask[max(0, y - 8) : y + 8, max(0, x - 12) : x + 12] = True
        mask[20:40, 30:50] = False  # holes create cycles in the skeleton
        built = robot.skeleton_graph(robot.skeleton(mask))
        if built is None:
            continue
        graph, _ = built
        for tree in robot.acyclic_subgraphs(graph):
            assert nx.is_tree(tree)
