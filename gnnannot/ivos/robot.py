"""The DAVIS interactive scribble robot (behaviour of davisinteractive 1.0.4).

Given predicted and true masks, the robot scribbles on one frame. For every label
``k = 0..n_objects`` (0 = background) it takes the error region ``gt == k & pred != k``
(false negatives of object k; for k = 0, pixels wrongly given to some object) and:

1. opens it (grey minimum then maximum, pixels outside the image ignored) with a disk of
   radius ``min(kernel_size * sqrt(area) / 2, max_kernel_radius)``; while the opening is
   empty and the radius is > 1 the radius shrinks by 0.9 (a radius <= 1 from the start
   skips the opening; shrinking until <= 1 leaves the empty opening, so no scribble);
2. takes the medial axis (skimage, the image padded by one pixel; ties in pixel order
   broken by a fixed pseudo-random permutation, see ``skeleton_seed``);
3. builds a graph whose nodes are skeleton pixels in raster order and whose edges join
   pixels within distance sqrt(2), weighted by that distance;
4. per connected component, removes cycles by repeatedly deleting the heaviest edge of
   the cycle networkx's ``find_cycle`` reports (first heaviest on ties), then drops
   components with fewer than ``min_nb_nodes`` nodes;
5. takes the longest path of each tree by two breadth-first sweeps (hop counts): the
   farthest node from the first node, then the farthest node from that one;
6. turns the path's ``(x, y)`` pixel coordinates into a Bezier curve of ``nb_points``
   points (paths longer than ``min(nb_points, 1000)`` are kept as they are), and
   normalises it by ``(W, H)``.

The scribble gets one stroke per kept tree, ``object_id`` k, on the chosen frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cv2
import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.special import comb
from skimage.morphology import disk, medial_axis

from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.metrics import batched_f_measure, batched_jaccard

__all__ = [
    "ROBOT_DEFAULTS",
    "ScribbleRobot",
    "bezier_curve",
    "frame_metric",
    "select_frame",
]

ROBOT_DEFAULTS: dict[str, float | int] = {
    "kernel_size": 0.2,
    "max_kernel_radius": 16,
    "min_nb_nodes": 4,
    "nb_points": 1000,
}

METRICS = ("J", "F", "J_AND_F")


class _LegacyPermutation(np.random.Generator):
    """A Generator whose ``permutation`` draws from ``RandomState(seed)``: the tie-break
    skimage's medial_axis used before 0.19 (``RandomState(0)``)."""

    def __init__(self, seed: int) -> None:
        super().__init__(np.random.PCG64(seed))
        self._legacy_seed = seed

    def permutation(self, x: Any, axis: int = 0) -> np.ndarray:  # type: ignore[override]
        return np.random.RandomState(self._legacy_seed).permutation(x)


def bezier_curve(points: np.ndarray, nb_points: int = 1000) -> np.ndarray:
    """Bezier curve with control points ``points (N, 2)`` sampled at ``nb_points`` values
    (capped at 1000) of t in [0, 1]; t = 0 is the *last* control point. Returns
    ``(nb_points, 2) float64``, or the points unchanged when N > nb_points."""
    nb_points = min(int(nb_points), 1000)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise DataError(f"bezier_curve: points must have shape (N, 2), found {pts.shape}")
    n_ctrl = len(pts)
    if n_ctrl > nb_points:
        return pts
    t = np.linspace(0.0, 1.0, nb_points).reshape(1, -1)
    i = np.arange(n_ctrl).reshape(-1, 1)
    n = n_ctrl - 1
    bernstein = comb(n, i) * (t ** (n - i)) * (1 - t) ** i  # (N, nb_points)
    return bernstein.T.dot(pts)


def frame_metric(
    gt: np.ndarray, pred: np.ndarray, n_objects: int, metric: str = "J"
) -> np.ndarray:
    """Per-frame score ``(T,)``: the mean over objects of J, F or (J + F) / 2."""
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, found {metric!r}")
    if metric == "J":
        per = batched_jaccard(gt, pred, n_objects)
    elif metric == "F":
        per = batched_f_measure(gt, pred, n_objects)
    else:
        per = 0.5 * batched_jaccard(gt, pred, n_objects) + 0.5 * batched_f_measure(
            gt, pred, n_objects
        )
    # (T, n_obj) C-ordered mean, the same summation order as the official toolkit
    return np.ascontiguousarray(per.T).mean(axis=1)


def select_frame(
    scores: np.ndarray,
    candidates: list[int] | None = None,
    used: list[int] | set[int] | None = None,
) -> int:
    """The official next-frame rule: the lowest-scoring frame among ``candidates`` (all
    frames by default) not in ``used`` (robot frames of earlier interactions; ignored
    when that leaves none, or when every frame was used). Ties follow ``np.argsort``."""
    scores = np.asarray(scores)
    n = len(scores)
    used_set = set(int(u) for u in (used or []))
    if len(used_set) == n:
        used_set = set()
    cand = set(int(c) for c in candidates) if candidates else set(range(n))
    allowed = cand - used_set
    if not allowed:
        allowed = cand
    order = scores.argsort()
    for idx in order:
        if int(idx) in allowed:
            return int(idx)
    # candidates outside 0..T-1 only: fall back like the toolkit (last visited index)
    return int(order[-1])


# --------------------------------------------------------------------------- neighbour order
# The official robot builds its pixel graph with scikit-learn's radius_neighbors_graph,
# which (for more than 11 points) queries a KD-tree and lists each pixel's neighbours in
# the order of the tree's permuted index array. That order decides the adjacency order
# of the networkx graph, hence tie-breaks in cycle removal and in the longest path. We
# rebuild the permutation: a KD-tree with leaf size 30 whose nodes split at the median of
# the dimension of largest spread, the median found by the GNU C++ library's
# ``std::nth_element`` (introselect) on keys ``(coordinate, index)``.
_LEAF_SIZE = 30


def _heap_adjust(arr: list[int], base: int, hole: int, length: int, value: int,
                 key: list[int]) -> None:
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if key[arr[base + child]] < key[arr[base + child - 1]]:
            child -= 1
        arr[base + hole] = arr[base + child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        arr[base + hole] = arr[base + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and key[arr[base + parent]] < key[value]:
        arr[base + hole] = arr[base + parent]
        hole = parent
        parent = (hole - 1) // 2
    arr[base + hole] = value


def _heap_select(arr: list[int], first: int, middle: int, last: int, key: list[int]) -> None:
    length = middle - first
    if length >= 2:
        parent = (length - 2) // 2
        while True:
            _heap_adjust(arr, first, parent, length, arr[first + parent], key)
            if parent == 0:
                break
            parent -= 1
    for i in range(middle, last):
        if key[arr[i]] < key[arr[first]]:
            value = arr[i]
            arr[i] = arr[first]
            _heap_adjust(arr, first, 0, length, value, key)


def _nth_element(arr: list[int], first: int, nth: int, last: int, key: list[int]) -> None:
    """In-place ``std::nth_element`` (libstdc++ introselect) on ``arr[first:last]``,
    comparing ``key[a] < key[b]`` (keys distinct)."""
    if first == last or nth == last:
        return
    depth = 2 * ((last - first).bit_length() - 1)
    while last - first > 3:
        if depth == 0:
            _heap_select(arr, first, nth + 1, last, key)
            arr[first], arr[nth] = arr[nth], arr[first]
            return
        depth -= 1
        # median of (first + 1, mid, last - 1) moved to first
        mid = first + (last - first) // 2
        a, b, c = first + 1, mid, last - 1
        ka, kb, kc = key[arr[a]], key[arr[b]], key[arr[c]]
        if ka < kb:
            pick = b if kb < kc else (c if ka < kc else a)
        else:
            pick = a if ka < kc else (c if kb < kc else b)
        arr[first], arr[pick] = arr[pick], arr[first]
        # unguarded partition of (first, last) around arr[first]
        pivot = key[arr[first]]
        lo, hi = first + 1, last
        while True:
            while key[arr[lo]] < pivot:
                lo += 1
            hi -= 1
            while pivot < key[arr[hi]]:
                hi -= 1
            if not lo < hi:
                break
            arr[lo], arr[hi] = arr[hi], arr[lo]
            lo += 1
        if lo <= nth:
            first = lo
        else:
            last = lo
    arr[first:last] = sorted(arr[first:last], key=key.__getitem__)


def kdtree_order(points: np.ndarray, leaf_size: int = _LEAF_SIZE) -> np.ndarray:
    """Permutation of the points ``(N, 2)`` (small non-negative integers) in which a
    scikit-learn KD-tree stores them: ``order[j]`` is the index of the j-th stored point.
    """
    pts = np.asarray(points, dtype=np.int64)
    n = len(pts)
    arr = list(range(n))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    n_levels = int(np.log2(max(1.0, (n - 1) / leaf_size)) + 1)
    n_nodes = 2**n_levels - 1
    keys = [(pts[:, d] * (n + 1) + np.arange(n)).tolist() for d in range(pts.shape[1])]
    cols = [pts[:, d] for d in range(pts.shape[1])]
    stack = [(0, 0, n)]
    while stack:
        node, start, end = stack.pop()
        if 2 * node + 1 >= n_nodes or end - start < 2:
            continue
        idx = np.asarray(arr[start:end])
        spreads = [int(c[idx].max() - c[idx].min()) for c in cols]
        dim = 0
        for d in range(1, len(spreads)):
            if spreads[d] > spreads[dim]:
                dim = d
        mid = (end - start) // 2
        _nth_element(arr, start, start + mid, end, keys[dim])
        stack.append((2 * node + 2, start + mid, end))
        stack.append((2 * node + 1, start, start + mid))
    return np.asarray(arr, dtype=np.int64)


def neighbour_rank(points: np.ndarray) -> np.ndarray:
    """Rank by which scikit-learn's ``radius_neighbors_graph`` lists each point among a
    row's neighbours: raster order for up to 11 points (brute force), else KD-tree
    storage order."""
    n = len(points)
    if n <= 11:
        return np.arange(n)
    rank = np.empty(n, dtype=np.int64)
    rank[kdtree_order(points)] = np.arange(n)
    return rank




def _edge_dfs(adj: dict[int, list[int]], start: int):
    """Edges ``(tail, head)`` of an undirected graph in the order of networkx's
    ``edge_dfs`` from ``start`` (each undirected edge once)."""
    visited_edges: set[frozenset[int]] = set()
    iters: dict[int, Any] = {}
    stack = [start]
    while stack:
        node = stack[-1]
        if node not in iters:
            iters[node] = iter(adj[node])
        nxt = next(iters[node], None)
        if nxt is None:
            stack.pop()
            continue
        key = frozenset((node, nxt))
        if key not in visited_edges:
            visited_edges.add(key)
            stack.append(nxt)
            yield node, nxt


def find_cycle(adj: dict[int, list[int]]) -> list[tuple[int, int]] | None:
    """The cycle ``networkx.find_cycle(G)`` returns for the undirected graph whose node
    order is ``adj``'s key order and whose neighbour order is each list's order, as a list
    of ``(u, v)`` edges; None when the graph is a forest."""
    explored: set[int] = set()
    for start in adj:
        if start in explored:
            continue
        edges: list[tuple[int, int]] = []
        seen = {start}
        active = {start}
        previous_head = None
        for tail, head in _edge_dfs(adj, start):
            if head in explored:
                continue
            if previous_head is not None and tail != previous_head:
                while True:
                    if not edges:
                        active = {tail}
                        break
                    popped = edges.pop()
                    active.discard(popped[1])
                    if edges and edges[-1][1] == tail:
                        break
            edges.append((tail, head))
            if head in active:
                i = 0
                for i, (t, _h) in enumerate(edges):  # noqa: B007 - i is used below
                    if t == head:
                        break
                return edges[i:]
            seen.add(head)
            active.add(head)
            previous_head = head
        explored.update(seen)
    return None


@dataclass
class ScribbleRobot:
    """Deterministic re-implementation of davisinteractive's InteractiveScribblesRobot.

    Medial-axis ties are broken by a pseudo-random permutation of the pixels. skimage up
    to 0.18 (the official robot's era) always used ``RandomState(0)``; skimage >= 0.19
    draws a fresh random permutation on every call unless given ``rng``, which makes the
    unpatched official robot irreproducible (its rasterised scribbles differ between two
    calls on the same input). ``tie_break="legacy"`` uses
    ``RandomState(skeleton_seed)`` (default, the historical behaviour),
    ``tie_break="generator"`` uses ``np.random.default_rng(skeleton_seed)`` (modern
    skimage's ``medial_axis(..., rng=skeleton_seed)``).
    """

    kernel_size: float = 0.2
    max_kernel_radius: float = 16
    min_nb_nodes: int = 4
    nb_points: int = 1000
    skeleton_seed: int = 0
    tie_break: str = "legacy"

    def __post_init__(self) -> None:
        if self.tie_break not in ("legacy", "generator"):
            raise ConfigError(
                f"robot tie_break must be 'legacy' or 'generator', found {self.tie_break!r}"
            )
        if not 0 <= self.kernel_size < 1:
            raise ConfigError(f"robot kernel_size must be in [0, 1), found {self.kernel_size}")
        if self.max_kernel_radius <= 0:
            raise ConfigError(
                f"robot max_kernel_radius must be > 0, found {self.max_kernel_radius}"
            )
        if self.min_nb_nodes < 1:
            raise ConfigError(f"robot min_nb_nodes must be >= 1, found {self.min_nb_nodes}")
        if self.nb_points < 2:
            raise ConfigError(f"robot nb_points must be >= 2, found {self.nb_points}")

    # ------------------------------------------------------------------ steps
    def skeleton(self, error_mask: np.ndarray) -> np.ndarray:
        """Opened medial axis of a binary ``(H, W)`` error mask, ``(H, W) bool``."""
        mask = np.asarray(error_mask, dtype=np.uint8)
        radius = min(self.kernel_size * np.sqrt(np.sum(mask > 0)) * 0.5, self.max_kernel_radius)
        opened = mask
        while radius > 1.0:
            kernel = disk(radius).astype(np.uint8)
            # skimage's rank minimum / maximum (used by the toolkit) ignore pixels outside
            # the image and give 0 where the footprint holds no image pixel; cv2's default
            # borders (+inf for erosion, -inf for dilation) do the same except that an
            # empty neighbourhood erodes to 255, hence the ``inside`` factor
            inside = cv2.dilate(np.ones_like(mask), kernel)
            opened = cv2.dilate(cv2.erode(mask, kernel) * inside, kernel)
            if opened.any():
                break
            radius *= 0.9
        padded = np.pad(opened.astype(bool), 1, mode="constant", constant_values=False)
        rng: Any = (
            _LegacyPermutation(self.skeleton_seed)
            if self.tie_break == "legacy"
            else int(self.skeleton_seed)
        )
        skel = medial_axis(padded, rng=rng)
        return skel[1:-1, 1:-1]

    @staticmethod
    def skeleton_graph(skel: np.ndarray) -> tuple[nx.Graph, np.ndarray] | None:
        """Graph of skeleton pixels (nodes in raster order, edges between 8-neighbours
        weighted 1 or sqrt(2)) and their ``(x, y)`` coordinates ``(N, 2)``."""
        skel = np.asarray(skel, dtype=bool)
        ys, xs = np.nonzero(skel)
        n = len(xs)
        if n == 0:
            return None
        h, w = skel.shape
        index = np.full((h + 2, w + 2), -1, dtype=np.int64)
        index[ys + 1, xs + 1] = np.arange(n)
        rows, cols, vals = [], [], []
        # per row, neighbours in the order scikit-learn's radius_neighbors_graph lists them
        for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            nb = index[ys + 1 + dy, xs + 1 + dx]
            ok = nb >= 0
            rows.append(np.nonzero(ok)[0])
            cols.append(nb[ok])
            vals.append(np.full(int(ok.sum()), np.sqrt(2.0) if dx and dy else 1.0))
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        v = np.concatenate(vals)
        order = np.lexsort((neighbour_rank(np.c_[xs, ys])[c], r))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
        # built from (data, indices, indptr) so scipy keeps the row order as given
        mat = sp.csr_matrix((v[order], c[order], indptr), shape=(n, n))
        graph = nx.from_scipy_sparse_array(mat)
        return graph, np.c_[xs, ys]

    def acyclic_subgraphs(self, graph: nx.Graph) -> list[nx.Graph]:
        """Connected components with cycles removed (heaviest edge of each found cycle),
        keeping those with at least ``min_nb_nodes`` nodes.

        Cycles are found exactly as ``networkx.find_cycle`` finds them (same traversal
        order, so the same edges are dropped), by :func:`find_cycle` on plain adjacency
        lists, which is an order of magnitude faster on large skeletons."""
        out = []
        for comp in nx.connected_components(graph):
            g = graph.subgraph(comp).copy()
            adj = {u: list(nbrs) for u, nbrs in g.adj.items()}
            while True:
                cycle = find_cycle(adj)
                if cycle is None:
                    break
                weights = np.asarray([graph[u][v]["weight"] for u, v in cycle])
                u, v = cycle[int(weights.argmax())]
                g.remove_edge(u, v)
                adj[u].remove(v)
                adj[v].remove(u)
            if len(g) >= self.min_nb_nodes:
                out.append(g)
        return out

    @staticmethod
    def longest_path(tree: nx.Graph) -> list[int]:
        """Longest path (in hops) of a tree by two breadth-first sweeps; ties go to the
        node reached first."""
        start = next(iter(tree.nodes()))
        dist = nx.single_source_shortest_path_length(tree, start)
        far = max(dist.items(), key=lambda kv: kv[1])[0]
        paths = nx.single_source_shortest_path(tree, far)
        return list(max(paths.values(), key=len))

    def error_paths(self, error_mask: np.ndarray) -> list[np.ndarray]:
        """Scribble paths (pixel ``(x, y)`` floats, each ``(nb_points, 2)``) for one error
        mask."""
        if not np.any(error_mask):
            return []
        skel = self.skeleton(error_mask)
        built = self.skeleton_graph(skel)
        if built is None:
            return []
        graph, coords = built
        paths = []
        for tree in self.acyclic_subgraphs(graph):
            idx = self.longest_path(tree)
            paths.append(bezier_curve(coords[idx], self.nb_points))
        return paths

    # ------------------------------------------------------------------ interaction
    def scribble_frame(
        self, pred: np.ndarray, gt: np.ndarray, n_objects: int
    ) -> list[dict[str, Any]]:
        """Strokes for one frame (``pred``, ``gt``: ``(H, W)`` int), normalised."""
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        h, w = gt.shape
        scale = np.asarray([w, h], dtype=np.float64)
        strokes = []
        for obj in range(n_objects + 1):
            t0 = time.time()
            paths = self.error_paths((gt == obj) & (pred != obj))
            t1 = time.time()
            for p in paths:
                strokes.append(
                    {
                        "path": (p / scale).tolist(),
                        "object_id": int(obj),
                        "start_time": t0,
                        "end_time": t1,
                    }
                )
        return strokes

    def interact(
        self,
        sequence: str,
        pred_masks: np.ndarray,
        gt_masks: np.ndarray,
        n_objects: int | None = None,
        frame: int | None = None,
    ) -> dict[str, Any]:
        """Scribble dict with strokes on ``frame`` (default: the frame of lowest mean J).

        pred_masks, gt_masks: ``(T, H, W)`` integer object ids. ``n_objects`` defaults to
        the ids present in ``gt_masks``.
        """
        pred = np.asarray(pred_masks)
        gt = np.asarray(gt_masks)
        if pred.shape != gt.shape or gt.ndim != 3:
            raise DataError(
                f"robot: predicted masks have shape {pred.shape}, expected the "
                f"ground-truth shape {gt.shape} (T, H, W)"
            )
        if n_objects is None:
            ids = np.unique(gt)
            n_objects = int(np.count_nonzero((ids > 0) & (ids < 255)))
        n_frames = gt.shape[0]
        if frame is None:
            frame = int(frame_metric(gt, pred, n_objects, "J").argmin())
        if not 0 <= frame < n_frames:
            raise DataError(f"robot: frame {frame} outside 0..{n_frames - 1}")
        scribbles: list[list[dict[str, Any]]] = [[] for _ in range(n_frames)]
        scribbles[frame] = self.scribble_frame(pred[frame], gt[frame], n_objects)
        return {"scribbles": scribbles, "sequence": sequence}
