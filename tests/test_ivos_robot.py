"""Scribble rasterisation and the scribble robot on simple shapes."""

import numpy as np
import pytest

from gnnannot.errors import DataError
from gnnannot.ivos.robot import (
    ScribbleRobot,
    bezier_curve,
    kdtree_order,
    select_frame,
)
from gnnannot.ivos.scribbles import (
    bresenham_path,
    merge_scribbles,
    rasterize_frame,
    rasterize_scribbles,
)


def _reference_line(x0, y0, x1, y1):
    """Textbook integer Bresenham with an error accumulator (independent reference)."""
    dx, dy = abs(x1 - x0), abs(y1 - y0)
    sx = 1 if x1 > x0 else -1
    sy = 1 if y1 > y0 else -1
    swap = dy >= dx
    if swap:
        dx, dy = dy, dx
    err = 2 * dy - dx
    minor = 0
    out = []
    for k in range(dx + 1):
        out.append((x0 + minor * sx, y0 + k * sy) if swap else (x0 + k * sx, y0 + minor * sy))
        if err >= 0:
            minor += 1
            err -= 2 * dx
        err += 2 * dy
    return out


def test_bresenham_matches_reference():
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 30, size=(60, 2))
    got = bresenham_path(pts)
    ref = [p for a, b in zip(pts[:-1], pts[1:], strict=True) for p in _reference_line(*a, *b)]
    np.testing.assert_array_equal(got, np.array(ref))
    np.testing.assert_array_equal(bresenham_path(np.array([[3, 4]])), [[3, 4]])


def test_rasterize_scales_by_size_minus_one_and_overwrites():
    strokes = [
        {"path": [[0.0, 0.0], [1.0, 1.0]], "object_id": 1},
        {"path": [[0.0, 1.0], [1.0, 0.0]], "object_id": 0},
    ]
    lab = rasterize_frame(strokes, 5, 5)
    assert lab.dtype == np.int16
    assert lab[0, 0] == 1 and lab[4, 4] == 1 and lab[1, 1] == 1
    assert lab[2, 2] == 0  # the later background stroke wins
    assert lab[4, 0] == 0 and lab[0, 4] == 0
    assert (lab == -1).sum() == 25 - 9
    # 0.99 * (W - 1) = 3.96 truncates to 3
    assert rasterize_frame([{"path": [[0.99, 0.5]], "object_id": 2}], 5, 5)[2, 3] == 2


def test_rasterize_scribbles_dict_and_validation():
    scr = {"scribbles": [[], [{"path": [[0.5, 0.5]], "object_id": 1}], []], "sequence": "s"}
    out = rasterize_scribbles(scr, 3, 3)
    assert list(out) == [1] and out[1][1, 1] == 1
    with pytest.raises(DataError, match="missing key 'path'"):
        rasterize_scribbles({"scribbles": [[{"object_id": 1}]]}, 3, 3)
    with pytest.raises(DataError, match="normalised"):
        rasterize_scribbles({"scribbles": [[{"path": [[2, 0]], "object_id": 1}]]}, 3, 3)


def test_merge_scribbles():
    a = {"scribbles": [[{"path": [[0, 0]], "object_id": 1}], []], "sequence": "s"}
    b = {"scribbles": [[], [{"path": [[1, 1]], "object_id": 0}]], "sequence": "s"}
    m = merge_scribbles(a, b)
    assert [len(f) for f in m["scribbles"]] == [1, 1]
    assert len(a["scribbles"][1]) == 0  # inputs untouched
    with pytest.raises(DataError, match="sequence"):
        merge_scribbles(a, {"scribbles": [[], []], "sequence": "t"})


def test_bezier_endpoints_and_passthrough():
    pts = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    curve = bezier_curve(pts, 50)
    assert curve.shape == (50, 2)
    np.testing.assert_allclose(curve[0], pts[-1])  # t = 0 is the last control point
    np.testing.assert_allclose(curve[-1], pts[0])
    long = np.arange(40, dtype=float).reshape(20, 2)
    np.testing.assert_array_equal(bezier_curve(long, 10), long)


def _scribbled(scribble, frame, h, w):
    return rasterize_frame(scribble["scribbles"][frame], h, w)


def test_robot_missed_half_of_rectangle():
    h, w = 120, 160
    gt = np.zeros((3, h, w), np.uint8)
    gt[:, 30:90, 40:120] = 1
    pred = gt.copy()
    pred[1, 30:90, 80:120] = 0  # right half missed on frame 1
    robot = ScribbleRobot()
    scr = robot.interact("rect", pred, gt, 1)
    assert [len(s) for s in scr["scribbles"]] == [0, 1, 0]  # worst frame chosen
    stroke = scr["scribbles"][1][0]
    assert stroke["object_id"] == 1 and len(stroke["path"]) == 1000
    lab = _scribbled(scr, 1, h, w)
    ys, xs = np.nonzero(lab == 1)
    assert len(ys) > 10
    assert xs.min() >= 80 and xs.max() < 120 and ys.min() >= 30 and ys.max() < 90
    assert robot.interact("rect", pred, gt, 1)["scribbles"][1][0]["path"] == stroke["path"]


def test_robot_false_positive_gives_background_scribble():
    h, w = 100, 100
    gt = np.zeros((1, h, w), np.uint8)
    gt[0, 10:40, 10:40] = 1
    pred = gt.copy()
    pred[0, 60:75, 30:90] = 1  # spurious elongated blob
    scr = ScribbleRobot().interact("fp", pred, gt, 1, frame=0)
    strokes = scr["scribbles"][0]
    assert [s["object_id"] for s in strokes] == [0]
    lab = _scribbled(scr, 0, h, w)
    blob = pred[0] == 1
    blob[gt[0] == 1] = False
    assert (lab == 0).sum() > 5 and blob[lab == 0].all()


def test_robot_perfect_prediction_gives_empty_scribble():
    gt = np.zeros((2, 20, 20), np.uint8)
    gt[:, 5:10, 5:10] = 1
    scr = ScribbleRobot().interact("ok", gt, gt, 1, frame=1)
    assert scr == {"scribbles": [[], []], "sequence": "ok"}
    with pytest.raises(DataError, match="shape"):
        ScribbleRobot().interact("bad", gt[:, :10], gt, 1)


def test_select_frame_rule():
    scores = np.array([0.5, 0.1, 0.3, 0.9])
    assert select_frame(scores) == 1
    assert select_frame(scores, used=[1]) == 2
    assert select_frame(scores, candidates=[0, 3]) == 0
    assert select_frame(scores, candidates=[0, 3], used=[0, 3]) == 0  # all used: reset
    assert select_frame(scores, used=[0, 1, 2, 3]) == 1


def test_kdtree_order_is_a_balanced_permutation():
    rng = np.random.default_rng(1)
    pts = rng.integers(0, 50, size=(500, 2))
    order = kdtree_order(pts)
    assert sorted(order.tolist()) == list(range(500))
    # the root splits x (largest spread) at the median: left half has the smaller keys
    keys = pts[:, 0] * 501 + np.arange(500)
    assert keys[order[:250]].max() < keys[order[250:]].min()
