"""J and F of several objects: hand-computed values, and random label volumes against a
brute-force reference written from the definitions (pixel loops, no NumPy tricks, no
OpenCV), so a mistake in the vectorised code cannot hide in the reference too."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gnnannot.errors import DataError
from gnnannot.ivos.metrics import (
    batched_f_measure,
    batched_jaccard,
    boundary_map,
    f_measure,
    jaccard,
    resolve_object_ids,
)


# ------------------------------------------------------------------ brute-force references
def ref_jaccard(gt: np.ndarray, pred: np.ndarray, k: int) -> float:
    inter = union = 0
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
        a, b = g == k, p == k
        inter += a and b
        union += a or b
    return 1.0 if union == 0 else inter / union


def ref_boundary(mask: np.ndarray) -> list[tuple[int, int]]:
    """Boundary pixels by the module docstring's rule, one pixel at a time."""
    h, w = mask.shape
    out = []
    for y in range(h):
        for x in range(w):
            v = bool(mask[y, x])
            neighbours = []
            if y == h - 1 and x == w - 1:
                continue
            if y == h - 1:
                neighbours = [(y, x + 1)]
            elif x == w - 1:
                neighbours = [(y + 1, x)]
            else:
                neighbours = [(y, x + 1), (y + 1, x), (y + 1, x + 1)]
            if any(bool(mask[a, b]) != v for a, b in neighbours):
                out.append((y, x))
    return out


def ref_f(gt_mask: np.ndarray, pred_mask: np.ndarray, bound_th: float = 0.008) -> float:
    h, w = gt_mask.shape
    r = bound_th if bound_th >= 1 else math.ceil(bound_th * math.sqrt(h * h + w * w))
    tb, pb = ref_boundary(gt_mask), ref_boundary(pred_mask)
    if not tb and not pb:
        return 1.0
    if not tb or not pb:
        return 0.0

    def matched(src, dst):
        return sum(any((y - a) ** 2 + (x - b) ** 2 <= r * r for a, b in dst) for y, x in src)

    precision = matched(pb, tb) / len(pb)
    recall = matched(tb, pb) / len(tb)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------- hand-computed cases
def test_multi_object_jaccard_hand_computed() -> None:
    """Two objects that the prediction swaps in part: each object counts only the pixels
    predicted with *its* id (predicting object 2 on object 1 is a miss for both)."""
    gt = np.zeros((2, 4, 6), np.uint8)
    gt[:, :, 0:3] = 1  # object 1: left half, 12 px per frame
    gt[:, :, 3:6] = 2  # object 2: right half, 12 px
    pred = gt.copy()
    pred[0, :, 2] = 2  # frame 0: column 2 (4 px of object 1) predicted as object 2
    pred[1, 0, :] = 0  # frame 1: top row missed (3 px of each object)
    pred[1, 3, 0] = 2  # and one px of object 1 predicted as 2
    out = batched_jaccard(gt, pred, 2)
    # frame 0: obj 1: 8 / 12; obj 2: 12 / 16
    # frame 1: obj 1: inter 12-3-1 = 8, union 12 -> 8/12; obj 2: inter 9, union 9+1+3 = 13
    expected = np.array([[8 / 12, 8 / 12], [12 / 16, 9 / 13]])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    # resolve by the ids present (None), by a list, by a count: the same rows
    np.testing.assert_array_equal(batched_jaccard(gt, pred), out)
    np.testing.assert_array_equal(batched_jaccard(gt, pred, [2]), out[1:])
    for k in (1, 2):
        for t in range(2):
            assert jaccard(gt[t] == k, pred[t] == k) == pytest.approx(expected[k - 1, t])


def test_object_ids_skip_background_and_void() -> None:
    gt = np.array([[[0, 3, 255, 1]]], np.uint8)
    assert resolve_object_ids(gt, None) == [1, 3]
    assert resolve_object_ids(gt, 3) == [1, 2, 3]
    assert resolve_object_ids(gt, np.int64(1)) == [1]
    assert resolve_object_ids(gt, (4, 2)) == [4, 2]
    out = batched_jaccard(gt, gt, [1, 2, 3])
    np.testing.assert_array_equal(out, [[1.0], [1.0], [1.0]])  # absent object 2: 1


def test_multi_object_f_hand_computed() -> None:
    """10x10 frame, bound_th 1 px. Object 1 is predicted one column too far right,
    object 2 exactly, object 3 (absent from the prediction) scores 0."""
    gt = np.zeros((1, 10, 10), np.uint8)
    gt[0, 2:4, 2:4] = 1
    gt[0, 7:9, 7:9] = 2
    gt[0, 0, 9] = 3
    pred = np.zeros_like(gt)
    pred[0, 2:4, 3:5] = 1
    pred[0, 7:9, 7:9] = 2
    # the boundary of a 2x2 square at rows 2-3, cols c..c+1 is the 3x3 block of rows 1-3,
    # cols c-1..c+1 minus (2, c): 8 px. gt: cols 1-3, pred: cols 2-4; every pixel of one
    # has a pixel of the other within 1 px (a cross): precision = recall = 1.
    gb, pb = boundary_map(gt[0] == 1), boundary_map(pred[0] == 1)
    assert gb.sum() == 8 and pb.sum() == 8
    out = batched_f_measure(gt, pred, 3, bound_th=1)
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 0.0])
    # shifted by two columns: pred boundary rows 1-3 x cols 3-5 minus (2, 4). gt pixels
    # matched: column 3 (3 px) and (1, 2), (3, 2) (next to (1, 3), (3, 3)); column 1 none:
    # recall 5/8; by symmetry precision 5/8, F = 5/8.
    pred2 = np.zeros_like(gt)
    pred2[0, 2:4, 4:6] = 1
    assert f_measure(gt[0] == 1, pred2[0] == 1, bound_th=1) == pytest.approx(5 / 8)
    assert batched_f_measure(gt, pred2, [1], bound_th=1)[0, 0] == pytest.approx(5 / 8)


def test_bound_pix_from_the_diagonal() -> None:
    """bound_th < 1 is a fraction of the diagonal: 0.008 * hypot(300, 400) = 4 px; two
    single-pixel objects 4 px apart are matched, 6 px apart are not (radius 4 < 5)."""
    gt = np.zeros((300, 400), bool)
    gt[100, 100] = True
    near = np.zeros_like(gt)
    near[100, 104] = True
    far = np.zeros_like(gt)
    far[100, 106] = True
    assert f_measure(gt, near) == pytest.approx(ref_f(gt, near)) == 1.0
    assert f_measure(gt, far) == pytest.approx(ref_f(gt, far))
    assert f_measure(gt, far) < 1.0


# ------------------------------------------------------------------- property-based tests
volumes = st.integers(1, 3).flatmap(lambda t: st.tuples(st.integers(2, 9), st.integers(2, 9))
                                    .flatmap(lambda hw: st.tuples(
                                        arrays(np.uint8, (t, *hw), elements=st.integers(0, 3)),
                                        arrays(np.uint8, (t, *hw), elements=st.integers(0, 3)))))


@settings(deadline=None)
@given(volumes)
def test_jaccard_matches_brute_force(pair) -> None:
    gt, pred = pair
    out = batched_jaccard(gt, pred, 3)
    for k in (1, 2, 3):
        for t in range(gt.shape[0]):
            assert out[k - 1, t] == pytest.approx(ref_jaccard(gt[t], pred[t], k), abs=1e-12)


@settings(deadline=None)
@given(volumes, st.sampled_from([0.008, 0.2, 1, 2]))
def test_f_measure_matches_brute_force(pair, bound_th) -> None:
    gt, pred = pair
    out = batched_f_measure(gt, pred, 3, bound_th=bound_th)
    for k in (1, 2, 3):
        for t in range(gt.shape[0]):
            want = ref_f(gt[t] == k, pred[t] == k, bound_th)
            assert out[k - 1, t] == pytest.approx(want, abs=1e-12)
            assert f_measure(gt[t] == k, pred[t] == k, bound_th) == pytest.approx(want)


@settings(deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 8), st.integers(1, 8))))
def test_boundary_map_matches_the_rule(mask) -> None:
    want = np.zeros(mask.shape, bool)
    for y, x in ref_boundary(mask):
        want[y, x] = True
    np.testing.assert_array_equal(boundary_map(mask), want)


def test_bound_pix_uses_both_sides_of_the_frame() -> None:
    """0.008 x diagonal: 300x400 (diagonal 500) gives 4 px, so two single pixels 5 px
    apart do not match; in either orientation (a radius from one side alone, e.g.
    hypot(400, 400) = 566 -> 5 px, would match them)."""
    for shape, step in (((300, 400), (0, 5)), ((400, 300), (5, 0))):
        gt = np.zeros(shape, bool)
        gt[100, 100] = True
        five = np.zeros_like(gt)
        five[100 + step[0], 100 + step[1]] = True
        assert f_measure(gt, five) == pytest.approx(ref_f(gt, five))
        assert f_measure(gt, five) < 1.0
        stack = np.stack([gt, five]).astype(np.uint8)
        assert batched_f_measure(stack[:1], stack[1:], [1])[0, 0] < 1.0


def test_input_errors_name_the_problem() -> None:
    with pytest.raises(DataError, match=r"predicted masks must have shape \(T, H, W\), "
                                        r"found \(4, 4\)"):
        batched_jaccard(np.zeros((1, 4, 4)), np.zeros((4, 4)))
    with pytest.raises(DataError, match=r"ground-truth masks must have shape \(T, H, W\), "
                                        r"found \(4,\)"):
        batched_f_measure(np.zeros(4), np.zeros((1, 4, 4)))
    with pytest.raises(DataError, match=r"f_measure needs two \(H, W\) masks of the same "
                                        r"shape, found \(2, 3, 3\) and \(2, 3, 3\)"):
        f_measure(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(DataError, match=r"found \(3, 3\) and \(3, 4\)"):
        f_measure(np.zeros((3, 3)), np.zeros((3, 4)))


def test_non_boolean_inputs_are_masks() -> None:
    """Integer masks (0/1 or 0/k) mean the same as booleans; outputs are booleans."""
    m = np.zeros((5, 6), np.uint8)
    m[1:3, 2:5] = 7
    b = boundary_map(m)
    assert b.dtype == np.bool_
    np.testing.assert_array_equal(b, boundary_map(m > 0))
    other = np.zeros_like(m)
    other[1:4, 2:5] = 3
    assert jaccard(m, other) == pytest.approx(6 / 9)
    assert f_measure(m, other, bound_th=1) == pytest.approx(f_measure(m > 0, other > 0, 1))


def test_default_object_ids_are_those_of_the_ground_truth() -> None:
    gt = np.zeros((2, 6, 6), np.uint8)
    gt[:, 1:3, 1:3] = 2
    gt[1, 4:, 4:] = 255  # void: never an object
    pred = np.zeros_like(gt)
    pred[0, 1:3, 1:3] = 2
    np.testing.assert_array_equal(batched_f_measure(gt, pred), [[1.0, 0.0]])
    np.testing.assert_array_equal(batched_jaccard(gt, pred), [[1.0, 0.0]])
