"""Tests of the synthetic DAVIS-layout dataset generator (gnnannot.data.synthetic)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from gnnannot.data import synthetic as syn
from gnnannot.data.davis import (
    read_annotations,
    read_frames,
    read_scribble,
    read_split,
    validate_scribble,
)

SMALL = dict(n_frames=6, height=96, width=160, max_objects=3)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "a"
    syn.generate_dataset(root, seed=3, n_train=3, n_val=2, quality=90, quiet=True, **SMALL)
    return root


@pytest.fixture(scope="module")
def default_videos() -> list[syn.SyntheticVideo]:
    """The default dataset (8 train + 4 val, 24 frames, 480x854, seed 0), without flow."""
    train, val = syn.video_names(8, 4)
    return [syn.make_video(0, name, with_flow=False) for name in train + val]


# --------------------------------------------------------------------------- layout/determinism
def test_layout_and_determinism(small_dataset: Path, tmp_path: Path) -> None:
    root = small_dataset
    assert read_split(root, "train") == ["synth-train-000", "synth-train-001", "synth-train-002"]
    assert read_split(root, "val") == ["synth-val-000", "synth-val-001"]
    for seq in read_split(root, "train") + read_split(root, "val"):
        frames = read_frames(root, seq)
        masks = read_annotations(root, seq)
        assert frames.shape == (6, 96, 160, 3) and masks.shape == (6, 96, 160)
        assert (root / "Scribbles" / seq / "001.json").is_file()
    # a second run gives byte-identical files; another seed gives different ones
    again = tmp_path / "b"
    syn.generate_dataset(again, seed=3, n_train=3, n_val=2, quality=90, quiet=True, **SMALL)
    assert _tree_bytes(root) == _tree_bytes(again)
    other = tmp_path / "c"
    syn.generate_dataset(other, seed=4, n_train=1, n_val=0, quality=90, quiet=True, **SMALL)
    a = (root / "JPEGImages/480p/synth-train-000/00000.jpg").read_bytes()
    assert (other / "JPEGImages/480p/synth-train-000/00000.jpg").read_bytes() != a


def test_video_independent_of_dataset_size() -> None:
    a = syn.make_video(7, "synth-val-001", with_flow=False, **SMALL)
    b = syn.make_video(7, "synth-val-001", with_flow=False, **SMALL)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert a.scribble == b.scribble


# --------------------------------------------------------------------------- masks
def test_mask_ids_contiguous_and_match_layers(small_dataset: Path) -> None:
    for seq in read_split(small_dataset, "train") + read_split(small_dataset, "val"):
        masks = read_annotations(small_dataset, seq)
        ids = set(np.unique(masks).tolist()) - {0}
        assert ids == set(range(1, int(masks.max()) + 1)), (seq, ids)
        # independent re-render: full-frame warps (no ROI), front-most alpha >= 0.5 wins
        rng = syn.video_rng(3, seq)
        scene = syn._build_scene(rng, 6, 96, 160, 3)
        for t in range(6):
            ref = np.zeros((96, 160), np.uint8)
            for i, layer in enumerate(scene.objects):
                a = cv2.warpAffine(layer.alpha, layer.maps[t], (160, 96), flags=cv2.INTER_LINEAR)
                ref[a >= 0.5] = i + 1
            assert np.array_equal(ref, masks[t]), (seq, t)


# --------------------------------------------------------------------------- scribbles
def _raster_labels(path: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Labels under the path points, rasterised with two common conventions."""
    h, w = labels.shape
    out = []
    x = np.clip(np.round(path[:, 0] * (w - 1)).astype(int), 0, w - 1)  # davisinteractive
    y = np.clip(np.round(path[:, 1] * (h - 1)).astype(int), 0, h - 1)
    out.append(labels[y, x])
    x = np.clip(np.floor(path[:, 0] * w).astype(int), 0, w - 1)  # x / width
    y = np.clip(np.floor(path[:, 1] * h).astype(int), 0, h - 1)
    out.append(labels[y, x])
    return out


def _check_scribble(data: dict, masks: np.ndarray, min_points: int) -> None:
    n, k = len(masks), int(masks.max())
    validate_scribble(data, "test", n_frames=n, n_objects=k)
    annotated = [f for f, s in enumerate(data["scribbles"]) if s]
    assert len(annotated) == 1
    f = annotated[0]
    strokes = data["scribbles"][f]
    obj_ids = [s["object_id"] for s in strokes if s["object_id"] > 0]
    bg = [s for s in strokes if s["object_id"] == 0]
    assert sorted(obj_ids) == list(range(1, k + 1))
    assert 1 <= len(bg) <= 2
    for s in strokes:
        path = np.asarray(s["path"])
        assert len(path) >= min_points
        for under in _raster_labels(path, masks[f]):
            assert np.all(under == s["object_id"]), (s["object_id"], np.unique(under))
        assert s["end_time"] > s["start_time"]


def test_scribbles_small(small_dataset: Path) -> None:
    for seq in read_split(small_dataset, "train") + read_split(small_dataset, "val"):
        masks = read_annotations(small_dataset, seq)
        data = read_scribble(small_dataset / "Scribbles" / seq / "001.json",
                             n_frames=6, n_objects=int(masks.max()))
        assert data["sequence"] == seq
        _check_scribble(data, masks, min_points=10)


def test_default_dataset_scribbles_occlusion_and_variety(
    default_videos: list[syn.SyntheticVideo],
) -> None:
    counts = []
    for v in default_videos:
        assert v.frames.shape == (24, 480, 854, 3)
        _check_scribble(v.scribble, v.masks, min_points=60)
        n_pts = [len(s["path"]) for s in v.scribble["scribbles"][v.scribble_frame]]
        assert max(n_pts) >= 200  # several hundred points, like a human stroke
        counts.append(v.n_objects)
    # 1-3 objects, some videos with several objects
    assert set(counts) <= {1, 2, 3} and max(counts) >= 2
    # objects occlude each other: some object loses >= 10% of its area to another one
    assert any(v.n_objects > 1 and v.visibility.min() < 0.9 for v in default_videos)
    # some camouflaged objects (texture cut from the background picture)
    assert any(any(v.camouflaged) for v in default_videos)
    assert {s for v in default_videos for s in v.shapes} == {"horse", "blob"}


# --------------------------------------------------------------------------- flow
def _warp_error(frames: np.ndarray, masks: np.ndarray, flow: np.ndarray, backward: bool):
    """Mean |frame_t - warp(frame_t+1, flow)| on non-occluded, non-boundary pixels, and the
    same with zero flow (forward; backward swaps the frames)."""
    n, h, w = masks.shape
    occ = syn.occlusion_from_labels(masks, flow, backward=backward)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    err, err0 = [], []
    for t in range(n - 1):
        src, dst = (frames[t + 1], frames[t]) if backward else (frames[t], frames[t + 1])
        lab = masks[t + 1] if backward else masks[t]
        warped = cv2.remap(dst.astype(np.float32), xs + flow[t, ..., 1], ys + flow[t, ..., 0],
                           cv2.INTER_LINEAR)
        edge = ndimage.grey_dilation(lab, 5) != ndimage.grey_erosion(lab, 5)
        ok = ~occ[t] & ~edge
        ok[:2], ok[-2:], ok[:, :2], ok[:, -2:] = False, False, False, False
        diff = np.abs(warped - src.astype(np.float32)).mean(-1)
        err.append(diff[ok].mean())
        err0.append(np.abs(dst.astype(np.float32) - src).mean(-1)[ok].mean())
        assert ok.mean() > 0.5
    return float(np.mean(err)), float(np.mean(err0))


def test_true_flow_warps_frames_small() -> None:
    errs, errs0 = [], []
    for name in ("synth-train-001", "synth-train-002", "synth-val-001"):
        v = syn.make_video(0, name, n_frames=6, height=120, width=200, max_objects=3)
        assert v.flow_forward.shape == (5, 120, 200, 2) and v.flow_forward.dtype == np.float32
        for backward, flow in ((False, v.flow_forward), (True, v.flow_backward)):
            err, err0 = _warp_error(v.frames, v.masks, flow, backward)
            assert err < 4.0, (name, backward, err)  # noise + JPEG-free bilinear resampling
            assert err < err0, (name, backward, err, err0)
            errs.append(err)
            errs0.append(err0)
    assert np.mean(errs) < 0.6 * np.mean(errs0)


def test_default_size_video_flow_and_pan() -> None:
    v = syn.make_video(0, "synth-val-000", n_frames=4)  # default 480x854
    assert v.frames.shape == (4, 480, 854, 3) and v.flow_backward.shape == (3, 480, 854, 2)
    err, err0 = _warp_error(v.frames, v.masks, v.flow_forward, False)
    assert err < 4.0 and err < 0.6 * err0
    # camera pan: background flow is non-zero
    bg_flow = v.flow_forward[0][v.masks[0] == 0]
    assert np.abs(bg_flow).mean() > 0.2
    # forward then backward returns (on pixels that stay on the same surface)
    occ = syn.occlusion_from_labels(v.masks, v.flow_forward)[0]
    ys, xs = np.nonzero(~occ)
    ty = np.rint(ys + v.flow_forward[0, ys, xs, 0]).astype(int)
    tx = np.rint(xs + v.flow_forward[0, ys, xs, 1]).astype(int)
    back = v.flow_backward[0, ty, tx]
    resid = v.flow_forward[0, ys, xs] + back
    assert np.median(np.abs(resid)) < 0.5  # nearest-pixel lookup: within a pixel's flow change


def test_default_dataset_has_camera_pan() -> None:
    moving = 0
    train, val = syn.video_names(8, 4)
    for name in train + val:
        scene = syn._build_scene(syn.video_rng(0, name), 24, 480, 854, 3)
        labels = np.zeros((480, 854), np.uint8)
        fw = syn._flow([scene.bg], labels, 0, 1)
        moving += np.abs(fw).mean() > 0.3
    assert moving >= 6


def test_hand_made_translation_flow() -> None:
    """One square object translating by (dy, dx) = (2, 3) per frame over a background
    panned by (1, -2): flow inside the object is the translation, outside the pan."""
    h, w, n = 48, 64, 4
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (h + 20, w + 20, 3), dtype=np.uint8)
    bg_maps = np.zeros((n, 2, 3))
    obj_maps = np.zeros((n, 2, 3))
    for t in range(n):
        bg_maps[t] = [[1, 0, -10 + 2 * t], [0, 1, -10 - 1 * t]]  # canvas -> frame
        obj_maps[t] = [[1, 0, 10 + 3 * t], [0, 1, 8 + 2 * t]]
    alpha = np.zeros((16, 16), np.float32)
    alpha[2:14, 2:14] = 1.0
    tex = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    scene = syn._Scene(
        syn._Layer(canvas, None, bg_maps),
        [syn._Layer(tex, alpha, obj_maps, float(alpha.sum()))], n, h, w,
    )
    frames, masks, vis, fw, bw = syn._render_scene(scene, None, True)
    for t in range(n):
        expected = np.zeros((h, w), np.uint8)
        expected[8 + 2 * t + 2 : 8 + 2 * t + 14, 10 + 3 * t + 2 : 10 + 3 * t + 14] = 1
        assert np.array_equal(masks[t], expected)
        inside = masks[t] == 1
        assert np.array_equal(frames[t][inside], tex[2:14, 2:14].reshape(-1, 3))
        assert np.array_equal(frames[t][~inside], canvas[10 + t : 10 + t + h, 10 - 2 * t :
                                                         10 - 2 * t + w][~inside])
    assert np.allclose(vis, 1.0)
    for t in range(n - 1):
        assert np.allclose(fw[t][masks[t] == 1], [2.0, 3.0], atol=1e-4)
        assert np.allclose(fw[t][masks[t] == 0], [-1.0, 2.0], atol=1e-4)
        assert np.allclose(bw[t][masks[t + 1] == 1], [-2.0, -3.0], atol=1e-4)
        assert np.allclose(bw[t][masks[t + 1] == 0], [1.0, -2.0], atol=1e-4)


# --------------------------------------------------------------------------- api
def test_true_flow_from_dataset_and_flow_files(small_dataset: Path, tmp_path: Path) -> None:
    fw, bw = syn.true_flow(small_dataset, "synth-val-001")
    v = syn.make_video(3, "synth-val-001", **SMALL)
    assert np.array_equal(fw, v.flow_forward) and np.array_equal(bw, v.flow_backward)
    with pytest.raises(syn.DataError):
        syn.true_flow(small_dataset, "nope")
    root = tmp_path / "d"
    syn.generate_dataset(root, seed=3, n_train=0, n_val=1, quiet=True,
                         flow_dir=tmp_path / "flow", **SMALL)
    f2, b2 = syn.load_flow(tmp_path / "flow" / "synth-val-000.npz")
    ref = syn.make_video(3, "synth-val-000", **SMALL)
    assert np.array_equal(f2, ref.flow_forward) and np.array_equal(b2, ref.flow_backward)


def test_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(syn.ConfigError):
        syn.generate_dataset(tmp_path, n_train=0, n_val=0, quiet=True)
    with pytest.raises(syn.ConfigError):
        syn.make_video(0, "x", n_frames=1)
    with pytest.raises(syn.ConfigError):
        syn.generate_dataset(tmp_path, quality=0, quiet=True, **SMALL)
