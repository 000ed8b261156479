"""Superpixel segmentation: contiguous 4-connected ids, edge refinement, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gnnannot.errors import ConfigError
from gnnannot.preprocess.superpixels import (
    SuperpixelParams,
    compact_labels,
    fill_unlabelled,
    frame_offsets,
    motion_boundaries,
    refine,
    segment_frame,
    segment_video,
)


def _image(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _n_components(labels: np.ndarray) -> int:
    """Number of 4-connected same-label regions (brute force, per label)."""
    total = 0
    for k in np.unique(labels):
        n, _ = cv2.connectedComponents((labels == k).astype(np.uint8), connectivity=4)
        total += n - 1
    return total


def test_segment_frame_contiguous_connected() -> None:
    img = _image()
    p = SuperpixelParams(n_segments=60)
    labels, n = segment_frame(img, 50, p)
    assert labels.dtype == np.int32 and labels.shape == img.shape[:2]
    assert set(np.unique(labels)) == set(range(n))
    assert _n_components(labels) == n  # every superpixel is one 4-connected region
    # about the requested count (52 of 60 here; a count far off means a broken seeding)
    assert 0.75 * 60 <= n <= 1.25 * 60


def test_superpixels_follow_colour_blocks() -> None:
    img = _image()
    block = np.kron(np.arange(48).reshape(6, 8), np.ones((16, 16), int))
    labels, n = segment_frame(img, 100, SuperpixelParams(n_segments=100))
    # superpixels follow the colour blocks: almost every pixel lies in a superpixel whose
    # majority block is its own
    votes = np.bincount(labels.ravel() * 48 + block.ravel(), minlength=n * 48).reshape(n, 48)
    agree = (votes.argmax(1)[labels] == block).mean()
    assert agree > 0.97


def test_motion_edge_splits_uniform_image() -> None:
    img = np.full((40, 60, 3), 128, np.uint8)
    flow = np.zeros((40, 60, 2), np.float32)
    flow[:, 23:, 1] = 5.0  # right part moves: a motion boundary between columns 22 | 23
    p = SuperpixelParams(n_segments=4, canny_high=0, flow_edge_thresh=1.0, min_size_factor=0.0)
    labels, n = segment_frame(img, 4, p, (flow,))
    left, right = set(np.unique(labels[:, :22])), set(np.unique(labels[:, 24:]))
    assert not left & right
    e = motion_boundaries(flow, 1.0)
    assert e[:, 22].all() and e.sum() == 40


def test_refine_and_fill() -> None:
    base = np.zeros((10, 10), np.int32)
    base[:, 5:] = 1
    edges = np.zeros((10, 10), bool)
    edges[4, :5] = True  # closes off the top-left quarter of segment 0
    labels, n = refine(base, edges, min_size=3)
    assert n == 3 and _n_components(labels) == 3
    assert len(np.unique(labels[:4, :5])) == 1 and len(np.unique(labels[5:, :5])) == 1
    assert len(np.unique(labels[:, 5:])) == 1
    assert labels[0, 0] != labels[9, 0]
    filled = fill_unlabelled(np.array([[0, 0, 2], [0, 0, 0], [3, 0, 0]]))
    assert (filled > 0).all()
    lab, k = compact_labels(np.array([[5, 5, 9], [2, 9, 9]]))
    assert k == 3 and lab.tolist() == [[1, 1, 2], [0, 2, 2]]
    np.testing.assert_array_equal(frame_offsets([3, 4]), [0, 3, 7])


def test_segment_video_deterministic_and_count() -> None:
    frames = [_image(seed=s) for s in range(3)]
    flow = np.zeros((96, 128, 2), np.float32)
    pairs = [(flow, None), (flow, flow), (None, flow)]
    p = SuperpixelParams(n_segments=80)
    a = list(segment_video(frames, p, pairs))
    b = list(segment_video(frames, p, pairs))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    counts = [int(x.max()) + 1 for x in a]
    assert all(40 <= c <= 160 for c in counts)


def test_params_validation() -> None:
    with pytest.raises(ConfigError):
        SuperpixelParams(n_segments=1)
    with pytest.raises(ConfigError, match="unknown"):
        SuperpixelParams.from_dict({"n_segments": 10, "bogus": 1})


def _fill_reference(labels: np.ndarray, base: np.ndarray | None) -> np.ndarray:
    """Whole-image version of the documented fill: shifted copies and cv2.dilate."""
    lab = labels.astype(np.int32)
    zero = lab == 0
    if zero.all():
        return np.ones(labels.shape, np.int32)
    if base is not None:
        for _ in range(12):
            changed = False
            for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1)):
                src = [slice(None), slice(None)]
                dst = [slice(None), slice(None)]
                src[axis] = slice(step, None) if step > 0 else slice(None, step)
                dst[axis] = slice(None, -step) if step > 0 else slice(-step, None)
                s, d = tuple(src), tuple(dst)
                ok = zero[d] & (lab[s] > 0) & (base[s] == base[d])
                if ok.any():
                    lab[d][ok] = lab[s][ok]
                    zero[d][ok] = False
                    changed = True
            if not changed:
                break
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    labf = lab.astype(np.float32)
    while zero.any():
        grown = cv2.dilate(labf, cross)
        labf[zero] = grown[zero]
        zero = labf == 0
    return labf.astype(np.int32)


@pytest.mark.parametrize("with_base", [False, True])
def test_fill_unlabelled_matches_reference(with_base: bool) -> None:
    rng = np.random.default_rng(1)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        base = rng.integers(0, int(rng.integers(1, 6)), (h, w))
        lab = rng.integers(1, 9, (h, w)) * (rng.random((h, w)) < rng.random())
        b = base if with_base else None
        got = fill_unlabelled(lab, b)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, _fill_reference(lab, b))


def _refine_reference(base: np.ndarray, edges: np.ndarray, min_size: int):
    """The documented refinement step by step: components, zero the small ones, fill,
    compact (brute-force components per base label with OpenCV)."""
    cc = np.zeros(base.shape, np.int64)
    nxt = 1
    starts = []
    for b in np.unique(base):
        m = ((base == b) & ~edges).astype(np.uint8)
        k, lab = cv2.connectedComponents(m, connectivity=4)
        for c in range(1, k):
            sel = lab == c
            starts.append((int(np.flatnonzero(sel.ravel())[0]), nxt))
            cc[sel] = nxt
            nxt += 1
    # number the pieces in raster order of their first pixel (as skimage's label does)
    order = {old: new + 1 for new, (_, old) in enumerate(sorted(starts))}
    cc = np.vectorize(lambda v: order.get(v, 0))(cc) if starts else cc
    sizes = np.bincount(cc.ravel(), minlength=1)
    small = sizes < min_size
    small[0] = True
    cc = np.where(small[cc], 0, cc)
    return compact_labels(fill_unlabelled(cc, base))


def test_refine_matches_reference() -> None:
    rng = np.random.default_rng(5)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(4, 30, 2))
        base = cv2.resize(rng.integers(0, 6, (3, 4)).astype(np.uint8), (w, h),
                          interpolation=cv2.INTER_NEAREST).astype(np.int32)  # fmt: skip
        edges = rng.random((h, w)) < rng.uniform(0, 0.4)
        min_size = int(rng.integers(0, 12))
        got, n = refine(base, edges, min_size)
        want, n_want = _refine_reference(base, edges, min_size)
        assert got.dtype == np.int32 and n == n_want
        np.testing.assert_array_equal(got, want)
    got, n = refine(np.zeros((5, 5), np.int32), np.ones((5, 5), bool), 3)  # all edges
    assert n == 1 and not got.any()


def test_flow_edges_brute_force() -> None:
    rng = np.random.default_rng(6)
    flow = rng.normal(0, 1, (17, 23, 2)).astype(np.float32)
    flow[5:9, 3:20] = 0.5  # equal neighbours: no edge
    for thresh in (0.5, 1.0, 2.0):
        want = np.zeros((17, 23), bool)
        for y in range(17):
            for x in range(23):
                for dy, dx in ((0, 1), (1, 0)):
                    if y + dy < 17 and x + dx < 23:
                        d = np.abs(flow[y, x] - flow[y + dy, x + dx])
                        want[y, x] |= bool((d > np.float32(thresh)).any())
        np.testing.assert_array_equal(motion_boundaries(flow, thresh), want)
        np.testing.assert_array_equal(motion_boundaries(flow.astype(np.float64), thresh), want)


def test_slic_backend_selection() -> None:
    from gnnannot.preprocess.superpixels import base_slic, slic_backend, use_slic_backend

    default = slic_backend()
    try:
        use_slic_backend("skimage")
        assert slic_backend() == "skimage"
        lab = base_slic(_image(), 20)
        assert lab.dtype == np.int32 and lab.shape == (96, 128)
        with pytest.raises(ConfigError):
            use_slic_backend("bogus")
    finally:
        use_slic_backend(None)
    assert slic_backend() == default
