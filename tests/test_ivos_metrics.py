"""J and F on hand-made masks with hand-computed answers."""

import numpy as np
import pytest

from gnnannot.errors import DataError
from gnnannot.ivos.metrics import (
    batched_f_measure,
    batched_jaccard,
    boundary_map,
    f_measure,
    jaccard,
)


def test_jaccard_hand_computed():
    gt = np.zeros((1, 4, 4), np.uint8)
    pred = np.zeros((1, 4, 4), np.uint8)
    gt[0, 0:2, 0:2] = 1  # 4 pixels
    pred[0, 0:2, 1:4] = 1  # 6 pixels, 2 shared -> 2 / 8
    gt[0, 3, :] = 2  # object 2 missed entirely
    out = batched_jaccard(gt, pred, 2)
    assert out.shape == (2, 1)
    assert out[0, 0] == pytest.approx(2 / 8)
    assert out[1, 0] == 0.0


def test_jaccard_empty_cases():
    gt = np.zeros((3, 5, 5), np.int32)
    pred = np.zeros((3, 5, 5), np.int32)
    pred[1, 0, 0] = 1  # false positive on frame 1
    gt[2, 1, 1] = 1
    pred[2, 1, 1] = 1
    out = batched_jaccard(gt, pred, [1])
    np.testing.assert_array_equal(out, [[1.0, 0.0, 1.0]])
    assert jaccard(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0


def test_boundary_map_single_pixel():
    m = np.zeros((4, 4), bool)
    m[1, 1] = True
    expected = np.zeros((4, 4), bool)
    expected[0:2, 0:2] = True  # offset by half a pixel towards the origin
    np.testing.assert_array_equal(boundary_map(m), expected)
    assert not boundary_map(np.ones((5, 5), bool)).any()


def test_f_measure_hand_computed():
    # 5x8 image: diagonal 9.43 -> bound_pix = ceil(0.075) = 1 (a cross)
    gt = np.zeros((5, 8), bool)
    gt[1, 1] = True  # boundary (0..1, 0..1)
    pred = np.zeros((5, 8), bool)
    pred[1, 3] = True  # boundary (0..1, 2..3): 2 of 4 pixels match each way
    assert f_measure(gt, pred) == pytest.approx(0.5)
    far = np.zeros((5, 8), bool)
    far[1, 5] = True
    assert f_measure(gt, far) == 0.0
    assert f_measure(gt, np.zeros_like(gt)) == 0.0
    assert f_measure(np.zeros_like(gt), pred) == 0.0
    assert f_measure(np.zeros_like(gt), np.zeros_like(gt)) == 1.0


def test_batched_f_matches_single_frame():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 3, size=(4, 30, 40))
    pred = rng.integers(0, 3, size=(4, 30, 40))
    pred[0] = gt[0]
    out = batched_f_measure(gt, pred, 2)
    assert out.shape == (2, 4)
    for k in (1, 2):
        for t in range(4):
            assert out[k - 1, t] == f_measure(gt[t] == k, pred[t] == k)
    np.testing.assert_array_equal(out[:, 0], 1.0)


def test_shape_mismatch_is_data_error():
    with pytest.raises(DataError, match="expected the ground-truth shape"):
        batched_jaccard(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(DataError, match=r"\(T, H, W\)"):
        batched_f_measure(np.zeros((4, 4)), np.zeros((4, 4)))
