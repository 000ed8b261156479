"""Optical flow library: occlusion definition, (y, x) order, consistency, video streaming."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gnnannot.errors import ConfigError
from gnnannot.preprocess.flow.estimate import (
    compute_video_flow,
    end_point_error,
    estimate_flow,
    fb_consistency,
    fb_occlusion,
    occlusion_from_flow,
    occlusions,
)

H, W = 64, 96


def _const(dy: float, dx: float, h: int = H, w: int = W) -> np.ndarray:
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dy, dx
    return flow


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w)).astype(np.float32)
    img = cv2.GaussianBlur(noise, (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return np.repeat(img.astype(np.uint8)[..., None], 3, axis=2)


# --------------------------------------------------------------------------- occlusion
def test_zero_flow_covers_everything() -> None:
    assert not occlusion_from_flow(_const(0, 0)).any()


@pytest.mark.parametrize("shift", [1, 3, 7])
def test_right_shift_leaves_left_strip(shift: int) -> None:
    # every pixel moves right by `shift`: target columns 0..shift-1 receive no vector
    expected = np.zeros((H, W), bool)
    expected[:, :shift] = True
    assert np.array_equal(occlusion_from_flow(_const(0, shift)), expected)


def test_up_shift_leaves_bottom_strip() -> None:
    expected = np.zeros((H, W), bool)
    expected[-2:, :] = True
    assert np.array_equal(occlusion_from_flow(_const(-2, 0)), expected)


def test_diagonal_shift_leaves_l_shape() -> None:
    expected = np.zeros((H, W), bool)
    expected[:3, :] = True
    expected[:, -4:] = True
    assert np.array_equal(occlusion_from_flow(_const(3, -4)), expected)


def test_converging_flow_leaves_one_hole() -> None:
    # columns >= 50 move left by one: columns 49 and 50 both land on 49, and nothing lands
    # on the last column
    flow = np.zeros((H, W, 2), np.float32)
    flow[:, 50:, 1] = -1
    expected = np.zeros((H, W), bool)
    expected[:, W - 1] = True
    assert np.array_equal(occlusion_from_flow(flow), expected)


def test_object_moving_right_uncovers_its_trailing_edge() -> None:
    # a 10x10 block moves 4 px right over a static background: the background pixels it
    # covered in the source but not in the target (its trailing 4 columns) are disoccluded
    flow = np.zeros((H, W, 2), np.float32)
    flow[20:30, 40:50, 1] = 4
    occ = occlusion_from_flow(flow)
    expected = np.zeros((H, W), bool)
    expected[20:30, 40:44] = True
    assert np.array_equal(occ, expected)


def test_subpixel_rounding_and_spread() -> None:
    # nearest splatting: 0.45 rounds to 0 (all covered), 0.55 rounds to 1 (top row open)
    assert not occlusion_from_flow(_const(0.45, 0)).any()
    occ = occlusion_from_flow(_const(0.55, 0))
    assert occ[0].all() and not occ[1:].any()
    # spread 0.1 also splats at 0.55 - 0.1 = 0.45 -> row 0 is covered again
    assert not occlusion_from_flow(_const(0.55, 0), spread=0.1).any()
    # ... but not at 0.7 (0.6 still rounds to 1)
    assert occlusion_from_flow(_const(0.7, 0), spread=0.1)[0].all()


def test_nan_vectors_cover_nothing() -> None:
    flow = _const(0, 0)
    flow[5, 7] = np.nan
    occ = occlusion_from_flow(flow)
    assert occ[5, 7] and occ.sum() == 1


def test_occlusions_pair_and_out_of_frame_option() -> None:
    fw, bw = _const(0, 3), _const(0, -3)
    occ_f, occ_b = occlusions(fw, bw)
    assert occ_f[:, :3].all() and occ_f.sum() == 3 * H  # frame t+1: left strip
    assert occ_b[:, -3:].all() and occ_b.sum() == 3 * H  # frame t: right strip
    occ_f2, occ_b2 = occlusions(fw, bw, exclude_out_of_frame=True)
    assert not occ_f2.any() and not occ_b2.any()  # both strips cross the border


# --------------------------------------------------------------------------- estimator
def _shifted_pair(dy: int, dx: int, h: int = 128, w: int = 192) -> tuple[np.ndarray, np.ndarray]:
    big = _texture(h + 40, w + 40, seed=1)
    a = big[20 : 20 + h, 20 : 20 + w]
    # frame b shows the content of a moved by (dy, dx): b[p + d] = a[p]
    b = big[20 - dy : 20 - dy + h, 20 - dx : 20 - dx + w]
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


@pytest.mark.parametrize("preset", ["ultrafast", "medium"])
def test_vertical_shift_is_channel_0(preset: str) -> None:
    a, b = _shifted_pair(3, 0)
    flow = estimate_flow(a, b, preset=preset)
    assert flow.shape == (128, 192, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16]
    assert abs(np.median(inner[..., 0]) - 3) < 0.2
    assert abs(np.median(inner[..., 1])) < 0.2


def test_horizontal_shift_is_channel_1_and_scale() -> None:
    a, b = _shifted_pair(0, -5)
    for scale in (1.0, 0.5):
        inner = estimate_flow(a, b, scale=scale)[16:-16, 16:-16]
        assert abs(np.median(inner[..., 1]) + 5) < 0.3
        assert abs(np.median(inner[..., 0])) < 0.3
    inner = estimate_flow(a, b, method="farneback")[16:-16, 16:-16]
    assert abs(np.median(inner[..., 1]) + 5) < 0.3


def test_bad_params() -> None:
    a = _texture(H, W)
    with pytest.raises(ConfigError, match="preset"):
        estimate_flow(a, a, preset="slow")
    with pytest.raises(ConfigError, match="scale"):
        estimate_flow(a, a, scale=0)


def test_fb_consistency_of_inverse_shifts() -> None:
    fw, bw = _const(2, -3), _const(-2, 3)
    assert np.allclose(fb_consistency(fw, bw), 0, atol=1e-5)
    assert not fb_occlusion(fw, bw).any()
    bad = fb_consistency(fw, _const(0, 0))
    assert np.allclose(bad, np.hypot(2, 3), atol=1e-5)


def test_compute_video_flow_streams_pairs() -> None:
    a, b = _shifted_pair(2, 1)
    c = np.ascontiguousarray(np.roll(b, 1, axis=0))
    pairs = list(compute_video_flow(iter([a, b, c]), preset="fast"))
    assert [p.t for p in pairs] == [0, 1]
    p = pairs[0]
    assert p.forward.shape == (128, 192, 2) and p.backward.shape == (128, 192, 2)
    assert p.occ_forward.dtype == bool and p.occ_forward.shape == (128, 192)
    assert np.array_equal(p.occ_forward, occlusion_from_flow(p.forward))
    assert np.array_equal(p.occ_backward, occlusion_from_flow(p.backward))
    inner = (slice(16, -16), slice(16, -16))
    assert end_point_error(p.forward[inner], _const(2, 1, 96, 160)) < 0.3
    assert end_point_error(p.backward[inner], _const(-2, -1, 96, 160)) < 0.3
