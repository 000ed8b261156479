"""The scribble robot's steps against independent references that need no official
package: scikit-learn's KD-tree and radius_neighbors_graph (the neighbour order the
official robot inherits), skimage's rank minimum/maximum for the opening, brute-force
tree diameters, de Casteljau's Bezier evaluation, sorting for nth_element, and
hand-computed frame scores."""

from __future__ import annotations

import cv2
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.filters import rank
from skimage.morphology import disk, medial_axis

from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.robot import (
    ScribbleRobot,
    _heap_select,
    _LegacyPermutation,
    _nth_element,
    bezier_curve,
    frame_metric,
    kdtree_order,
    neighbour_rank,
    select_frame,
)

sk_neighbors = pytest.importorskip("sklearn.neighbors", reason="scikit-learn is in the lock")


def _blobs(rng: np.random.Generator, h: int, w: int, n: int = 3) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for _ in range(n):
        cv2.ellipse(m, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                    (int(rng.integers(2, w // 2 + 3)), int(rng.integers(2, h // 2 + 3))),
                    float(rng.uniform(0, 180)), 0, 360, 1, -1)  # fmt: skip
    return m


# ------------------------------------------------------------------------- neighbour order
@settings(deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 700), st.integers(1, 60))
def test_kdtree_order_matches_sklearn(seed, n, side) -> None:
    """Any size (one leaf, several levels), duplicates, a degenerate axis."""
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, side, size=(n, 2))
    if seed % 3 == 0:
        pts[:, 1] = 5  # no spread in y
    ref = sk_neighbors.KDTree(pts.astype(float), leaf_size=30).get_arrays()[1]
    np.testing.assert_array_equal(kdtree_order(pts), ref)


def test_kdtree_order_edge_cases() -> None:
    assert kdtree_order(np.zeros((0, 2), np.int64)).tolist() == []
    assert kdtree_order(np.array([[3, 4]])).tolist() == [0]
    pts = np.array([[i % 7, i // 7] for i in range(40)])
    ref = sk_neighbors.KDTree(pts.astype(float), leaf_size=4).get_arrays()[1]
    np.testing.assert_array_equal(kdtree_order(pts, leaf_size=4), ref)
    # up to 11 points scikit-learn answers by brute force: raster order
    assert neighbour_rank(pts[:11]).tolist() == list(range(11))
    rank_ = neighbour_rank(pts)
    assert sorted(rank_.tolist()) == list(range(40))
    np.testing.assert_array_equal(rank_[kdtree_order(pts)], np.arange(40))


def test_skeleton_graph_matches_radius_neighbors_graph() -> None:
    """Node order, neighbour order of every node and weights as networkx builds them from
    scikit-learn's radius_neighbors_graph(coords, sqrt 2), as the official robot does."""
    rng = np.random.default_rng(0)
    sizes = []
    small = []
    for n in (4, 7, 10):  # small skeletons: a short bar's medial axis
        m = np.zeros((9, 16), np.uint8)
        m[3:6, 2:2 + n] = 1
        small.append(m)
    for case in range(25):
        h, w = (int(v) for v in rng.integers(8, 48, 2))
        mask = small[case] if case < len(small) else _blobs(rng, h, w)
        skel = ScribbleRobot().skeleton(mask)
        built = ScribbleRobot.skeleton_graph(skel)
        if built is None:
            continue
        g, coords = built
        ys, xs = np.nonzero(skel)
        np.testing.assert_array_equal(coords, np.c_[xs, ys])
        ref = nx.from_scipy_sparse_array(sk_neighbors.radius_neighbors_graph(
            coords.astype(float), np.sqrt(2), mode="distance"))  # fmt: skip
        assert list(g.nodes) == list(ref.nodes)
        for u in g:
            assert list(g.adj[u]) == list(ref.adj[u]), u
            for v in g.adj[u]:
                assert g[u][v]["weight"] == pytest.approx(ref[u][v]["weight"])
        sizes.append(len(coords))
    assert min(sizes) <= 11 < max(sizes)  # both of scikit-learn's algorithms exercised
    assert ScribbleRobot.skeleton_graph(np.zeros((4, 4), bool)) is None


@settings(deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=80, unique=True), st.data())
def test_nth_element_partitions_like_sorting(keys, data) -> None:
    n = len(keys)
    first = data.draw(st.integers(0, n - 1))
    last = data.draw(st.integers(first + 1, n))
    nth = data.draw(st.integers(first, last - 1))
    arr = list(range(n))
    _nth_element(arr, first, nth, last, keys)
    assert arr[:first] == list(range(first)) and arr[last:] == list(range(last, n))
    assert sorted(arr[first:last]) == list(range(first, last))
    want = sorted(range(first, last), key=keys.__getitem__)[nth - first]
    assert arr[nth] == want
    assert all(keys[a] < keys[want] for a in arr[first:nth])
    assert all(keys[a] > keys[want] for a in arr[nth + 1:last])


@settings(deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=2, max_size=60, unique=True), st.data())
def test_heap_select_keeps_the_smallest_as_a_max_heap(keys, data) -> None:
    """libstdc++'s __heap_select (introselect's fallback): afterwards arr[first:middle]
    holds the middle - first smallest keys of arr[first:last] as a max-heap."""
    n = len(keys)
    first = data.draw(st.integers(0, n - 2))
    last = data.draw(st.integers(first + 2, n))
    middle = data.draw(st.integers(first + 1, last))
    arr = list(range(n))
    _heap_select(arr, first, middle, last, keys)
    assert arr[:first] == list(range(first)) and arr[last:] == list(range(last, n))
    assert sorted(arr[first:last]) == list(range(first, last))
    smallest = sorted(range(first, last), key=keys.__getitem__)[: middle - first]
    assert set(arr[first:middle]) == set(smallest)
    heap = [keys[a] for a in arr[first:middle]]
    for i in range(1, len(heap)):
        assert heap[(i - 1) // 2] >= heap[i]  # max-heap: a parent >= its children


# ----------------------------------------------------------------------------- skeleton
def _reference_skeleton(mask: np.ndarray, kernel_size=0.2, max_radius=16.0) -> np.ndarray:
    radius = min(kernel_size * np.sqrt(mask.sum()) / 2, max_radius)
    opened = mask.astype(np.uint8)
    while radius > 1:
        fp = disk(radius)
        opened = rank.maximum(rank.minimum(mask.astype(np.uint8), fp), fp)
        if opened.any():
            break
        radius *= 0.9
    padded = np.pad(opened.astype(bool), 1)
    return medial_axis(padded, rng=_LegacyPermutation(0))[1:-1, 1:-1]


def test_skeleton_opening_matches_skimage_rank_filters() -> None:
    rng = np.random.default_rng(4)
    for case in range(12):
        h, w = (int(v) for v in rng.integers(10, 60, 2))
        mask = _blobs(rng, h, w, n=int(rng.integers(1, 4)))
        if case == 0:
            mask[:] = 0
            mask[3, 2:9] = 1  # thin: the opening shrinks to nothing, no skeleton
        robot = ScribbleRobot(max_kernel_radius=[16, 3, 1.5][case % 3])
        want = _reference_skeleton(mask, max_radius=robot.max_kernel_radius)
        np.testing.assert_array_equal(robot.skeleton(mask), want)
    thin = np.zeros((5, 130), np.uint8)
    thin[2, 2:123] = 1  # 121 px: radius 0.2 * 11 / 2 > 1 erodes it all, 0.99 stops
    assert not ScribbleRobot().skeleton(thin).any()
    assert ScribbleRobot().error_paths(thin) == []
    assert ScribbleRobot().error_paths(np.zeros((5, 5), bool)) == []


def test_longest_path_is_a_tree_diameter() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        tree = nx.random_labeled_tree(int(rng.integers(2, 30)), seed=int(rng.integers(1e6)))
        path = ScribbleRobot.longest_path(tree)
        diameter = max(max(d.values()) for _, d in nx.all_pairs_shortest_path_length(tree))
        assert len(path) == diameter + 1
        assert all(tree.has_edge(a, b) for a, b in zip(path, path[1:], strict=False))


def test_min_nb_nodes_drops_small_components() -> None:
    g = nx.Graph()
    g.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (10, 11, 1.0),
                               (11, 12, 1.0), (12, 10, 1.5)])  # fmt: skip
    kept = ScribbleRobot(min_nb_nodes=4).acyclic_subgraphs(g)
    assert [sorted(t.nodes) for t in kept] == [[0, 1, 2, 3]]
    kept = ScribbleRobot(min_nb_nodes=3).acyclic_subgraphs(g)
    assert [sorted(t.nodes) for t in kept] == [[0, 1, 2, 3], [10, 11, 12]]
    tri = kept[1]
    assert sorted(map(sorted, tri.edges)) == [[10, 11], [11, 12]]  # heaviest edge removed


# ------------------------------------------------------------------------------- Bezier
def _de_casteljau(points: np.ndarray, s: float) -> np.ndarray:
    pts = points.astype(float).copy()
    while len(pts) > 1:
        pts = (1 - s) * pts[:-1] + s * pts[1:]
    return pts[0]


def test_bezier_curve_matches_de_casteljau() -> None:
    rng = np.random.default_rng(6)
    for n_ctrl in (1, 2, 3, 7, 9):
        pts = rng.uniform(0, 100, size=(n_ctrl, 2))
        curve = bezier_curve(pts, 9)
        assert curve.shape == (9, 2)
        for i, t in enumerate(np.linspace(0, 1, 9)):
            # t = 0 is the last control point: the curve runs from the path's end
            np.testing.assert_allclose(curve[i], _de_casteljau(pts[::-1], t), atol=1e-9)
    assert bezier_curve(pts, 5000).shape == (1000, 2)  # capped at 1000 points
    pts = rng.uniform(0, 100, size=(20, 2))
    np.testing.assert_array_equal(bezier_curve(pts, 10), pts)  # 20 > 10 points: as is
    assert bezier_curve(pts, 20).shape == (20, 2)
    with pytest.raises(DataError, match=r"\(N, 2\), found \(3,\)"):
        bezier_curve(np.zeros(3))


# ----------------------------------------------------------------------- frame selection
def test_frame_metric_hand_computed() -> None:
    gt = np.zeros((2, 4, 4), np.uint8)
    gt[:, :2, :2] = 1
    gt[:, 2:, 2:] = 2
    pred = gt.copy()
    pred[0, :2, :2] = 0  # frame 0: object 1 missed (J 0), object 2 exact (J 1)
    j = frame_metric(gt, pred, 2, "J")
    np.testing.assert_allclose(j, [0.5, 1.0])
    f = frame_metric(gt, pred, 2, "F")
    np.testing.assert_allclose(f, [0.5, 1.0])  # F of an empty prediction is 0
    np.testing.assert_allclose(frame_metric(gt, pred, 2, "J_AND_F"), (j + f) / 2)
    pred[1, 0, 0] = 0  # frame 1 object 1: J 3/4; F differs from J
    jf = frame_metric(gt, pred, 2, "J_AND_F")
    assert jf[1] == pytest.approx(0.5 * (frame_metric(gt, pred, 2, "J")[1]
                                         + frame_metric(gt, pred, 2, "F")[1]))
    assert frame_metric(gt, pred, 2, "J")[1] == pytest.approx((0.75 + 1) / 2)
    with pytest.raises(ConfigError, match="found 'IoU'"):
        frame_metric(gt, pred, 2, "IoU")


def test_select_frame_more_cases() -> None:
    scores = np.array([0.4, 0.2, 0.2, 0.9])
    assert select_frame(scores) == 1  # ties: argsort order
    assert select_frame(scores, used={1}) == 2
    assert select_frame(scores, candidates=[3], used=[3]) == 3  # nothing else allowed
    assert select_frame(scores, candidates=[7, 8]) == 3  # outside: the last sorted index
    assert select_frame(scores, used=[0, 1, 2]) == 3


def test_robot_config_errors_name_the_setting() -> None:
    for kwargs, match in [({"tie_break": "random"}, "tie_break must be"),
                          ({"kernel_size": 1.0}, r"kernel_size must be in \[0, 1\)"),
                          ({"kernel_size": -0.1}, "kernel_size"),
                          ({"max_kernel_radius": 0}, "max_kernel_radius must be > 0"),
                          ({"min_nb_nodes": 0}, "min_nb_nodes must be >= 1"),
                          ({"nb_points": 1}, "nb_points must be >= 2")]:  # fmt: skip
        with pytest.raises(ConfigError, match=match):
            ScribbleRobot(**kwargs)
    ScribbleRobot(kernel_size=0.0, max_kernel_radius=0.5, min_nb_nodes=1, nb_points=2)


def test_interact_defaults_and_normalised_paths() -> None:
    h, w = 60, 80
    gt = np.zeros((3, h, w), np.uint8)
    gt[:, 10:50, 10:70] = 1
    gt[:, 0:8, 0:8] = 255  # void: not an object
    pred = gt.copy()
    pred[2, 10:50, 10:40] = 0
    robot = ScribbleRobot(nb_points=50)
    scr = robot.interact("s", pred, gt)  # n_objects from gt: 1; worst frame: 2
    assert [len(s) for s in scr["scribbles"]] == [0, 0, 1] and scr["sequence"] == "s"
    stroke = scr["scribbles"][2][0]
    path = np.asarray(stroke["path"])
    assert path.shape == (50, 2) and stroke["object_id"] == 1
    assert stroke["start_time"] <= stroke["end_time"]
    pix = robot.error_paths((gt[2] == 1) & (pred[2] != 1))[0]
    np.testing.assert_allclose(path, pix / [w, h])  # normalised by (W, H)
    assert (path[:, 0] * w >= 10).all() and (path[:, 0] * w < 40).all()
    assert robot.interact("s", pred, gt, 1, frame=0)["scribbles"] == [[], [], []]
    with pytest.raises(DataError, match=r"frame 3 outside 0\.\.2"):
        robot.interact("s", pred, gt, 1, frame=3)
    with pytest.raises(DataError, match=r"frame -1 outside"):
        robot.interact("s", pred, gt, 1, frame=-1)
    with pytest.raises(DataError, match=r"^robot: predicted masks have shape .*\(T, H, W\)"):
        robot.interact("s", pred[0], gt[0], 1)
