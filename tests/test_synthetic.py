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
    syn.generate_dataset(root, seed=3, n_train=3, n_val=2, quality=90, quiet=True,
                         effects=True, val_scribbles=3, **SMALL)
    return root


DEFAULT = dict(height=240, width=427, max_objects=4)  # params.yaml data.synthetic


@pytest.fixture(scope="module")
def default_videos() -> list[syn.SyntheticVideo]:
    """The first 8 val videos of the default dataset (seed 0, lengths 24-70, 3 first
    scribbles each), without flow."""
    _, val = syn.video_names(0, 8)
    return [syn.make_video(0, name, syn.video_length(0, name, (24, 70)), **DEFAULT,
                           with_flow=False, effects=True, n_scribbles=3) for name in val]


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
    syn.generate_dataset(again, seed=3, n_train=3, n_val=2, quality=90, quiet=True,
                         effects=True, val_scribbles=3, **SMALL)
    assert _tree_bytes(root) == _tree_bytes(again)
    other = tmp_path / "c"
    syn.generate_dataset(other, seed=4, n_train=1, n_val=0, quality=90, quiet=True, **SMALL)
    a = (root / "JPEGImages/480p/synth-train-000/00000.jpg").read_bytes()
    assert (other / "JPEGImages/480p/synth-train-000/00000.jpg").read_bytes() != a


def test_video_independent_of_dataset_size(tmp_path: Path) -> None:
    """A video's files depend on the seed and its name only: datasets of 1 + 2 and of
    3 + 3 videos hold byte-identical files for the videos they share (frames, masks,
    scribbles, any length drawn from a range), and the in-memory video is the same."""
    tiny = dict(height=48, width=64, max_objects=2, n_frames=(3, 6), quality=90,
                quiet=True, val_scribbles=2)
    few, many = tmp_path / "few", tmp_path / "many"
    syn.generate_dataset(few, seed=7, n_train=1, n_val=2, **tiny)
    syn.generate_dataset(many, seed=7, n_train=3, n_val=3, **tiny)
    assert read_split(many, "val")[:2] == read_split(few, "val")
    shared = read_split(few, "train") + read_split(few, "val")
    for seq in shared:
        for sub in ("JPEGImages/480p", "Annotations/480p", "Scribbles"):
            a, b = _tree_bytes(few / sub / seq), _tree_bytes(many / sub / seq)
            assert a and a == b, (seq, sub)
    lengths = {len(read_frames(few, seq)) for seq in shared}
    assert lengths <= set(range(3, 7))
    # another seed changes the shared videos (the check above is not vacuous)
    other = tmp_path / "other"
    syn.generate_dataset(other, seed=8, n_train=1, n_val=0, **tiny)
    seq = read_split(few, "train")[0]
    assert _tree_bytes(other / "JPEGImages/480p" / seq) != _tree_bytes(
        few / "JPEGImages/480p" / seq)
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
        scene = syn._build_scene(rng, 6, 96, 160, 3, effects=True)
        ys, xs = np.mgrid[0:96, 0:160].astype(np.float64)
        for t in range(6):
            ref = np.zeros((96, 160), np.uint8)
            for i, layer in enumerate(scene.objects):
                inv = cv2.invertAffineTransform(layer.maps[t])
                vx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
                vy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
                if layer.deform is not None:
                    dx, dy = layer.deform.disp(vx, vy, t)
                    vx, vy = vx + dx, vy + dy
                a = cv2.remap(layer.alpha, vx.astype(np.float32), vy.astype(np.float32),
                              cv2.INTER_LINEAR)
                ref[a >= 0.5] = i + 1
            # fixed-point warps of different OpenCV paths may differ on a few edge pixels
            assert (ref != masks[t]).mean() < 2e-3, (seq, t)


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


def _check_scribble(data: dict, masks: np.ndarray, min_points: int) -> int:
    """Checks one first scribble; returns its frame."""
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
    return f


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
    counts, lengths = [], []
    for v in default_videos:
        assert v.frames.shape[1:] == (240, 427, 3)
        lengths.append(len(v.frames))
        assert len(v.scribbles) == 3 and v.scribbles[0] is v.scribble
        frames = [_check_scribble(s, v.masks, min_points=60) for s in v.scribbles]
        assert frames[0] == v.scribble_frame
        assert len(set(frames)) == 3, frames  # three annotators, three different frames
        n_pts = [len(s["path"]) for s in v.scribble["scribbles"][v.scribble_frame]]
        assert max(n_pts) >= 100  # a hundred points and more, like a human stroke
        counts.append(v.n_objects)
    # 1-4 objects, some videos with several objects; lengths 24-70, varied
    assert set(counts) <= {1, 2, 3, 4} and max(counts) >= 3
    assert min(lengths) >= 24 and max(lengths) <= 70 and max(lengths) - min(lengths) >= 20
    # objects occlude each other: some object loses >= 10% of its area to another one
    assert any(v.n_objects > 1 and v.visibility.min() < 0.9 for v in default_videos)
    # some camouflaged objects (texture cut from the background picture)
    assert any(any(v.camouflaged) for v in default_videos)
    kinds = {s for v in default_videos for s in v.shapes}
    assert {"horse", "blob"} <= kinds and kinds & set(syn._shapes.THIN_KINDS)
    # the real-footage effects occur
    info = [v.info for v in default_videos]
    assert any(i["exposure"] > 0 for i in info) and any(i["shake_px"] > 0 for i in info)
    assert any(i["lighting"] for i in info)
    objs = [o for i in info for o in i["objects"]]
    for key in ("nonrigid", "fast", "colour_matched"):
        assert any(o[key] for o in objs), key


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
        v = syn.make_video(0, name, n_frames=6, height=120, width=200, max_objects=3,
                           effects=False)
        assert v.flow_forward.shape == (5, 120, 200, 2) and v.flow_forward.dtype == np.float32
        for backward, flow in ((False, v.flow_forward), (True, v.flow_backward)):
            err, err0 = _warp_error(v.frames, v.masks, flow, backward)
            assert err < 4.0, (name, backward, err)  # noise + JPEG-free bilinear resampling
            assert err < err0, (name, backward, err, err0)
            errs.append(err)
            errs0.append(err0)
    assert np.mean(errs) < 0.6 * np.mean(errs0)


def test_default_size_video_flow_and_pan() -> None:
    v = syn.make_video(0, "synth-val-000", n_frames=4, effects=False)  # 480x854
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
    v = syn.make_video(3, "synth-val-001", effects=True, **SMALL)
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


# --------------------------------------------------------------------------- v2 realism
def _thin_scenes(n_wanted: int = 6) -> list[tuple[syn._Scene, int]]:
    """Small scenes (4 frames, 120x200) and the index of an object with thin parts."""
    out = []
    for i in range(60):
        scene = syn._build_scene(syn.video_rng(1, f"thin-{i}"), 4, 120, 200, 2, effects=True)
        out += [(scene, j) for j, lay in enumerate(scene.objects) if lay.thin is not None]
        if len(out) >= n_wanted:
            break
    return out[:n_wanted]


def test_thin_parts_are_2_to_8_px_wide() -> None:
    from skimage.morphology import skeletonize

    from gnnannot.data import _render

    scenes = _thin_scenes()
    assert len(scenes) == 6
    kinds = set()
    for scene, j in scenes:
        layer = scene.objects[j]
        kinds.add(scene.kinds[j])
        line = scene.info["objects"][j]["thin_px"]
        for t in range(scene.n):
            # by construction: sprite line width x the object's scale at t
            design = line * np.sqrt(abs(np.linalg.det(layer.maps[t][:, :2])))
            assert 2.0 - 1e-6 <= design <= 8.0 + 1e-6, design
            # measured on the rendered mask: 2 x distance to the outside along the medial
            # axis of the visible thin parts (a w-px line measures w..w+1; junctions more)
            labels, _ = _render.render_labels(scene.objects, t, scene.h, scene.w)
            obj = labels == j + 1
            thin = (_render.sample(layer.thin, layer, t, (0, 0, scene.w, scene.h)) >= 0.5) & obj
            skel = skeletonize(thin)
            if skel.sum() < 10:
                continue  # hidden behind another object or out of frame
            dist = ndimage.distance_transform_edt(np.pad(obj, 1))[1:-1, 1:-1]
            width = float(np.median(2 * dist[skel]))
            assert 2.0 <= width <= min(10.0, design + 3.0), (scene.kinds[j], design, width)
            # thin: much thinner than the body (the object's deepest point)
            assert width < 0.6 * 2 * dist.max()
    assert len(kinds) >= 2


def test_motion_blur_is_a_ramp_over_the_exposure() -> None:
    """A uniform square moving 8 px/frame to the right over a uniform background, exposure
    1.0: the blurred frame's leading edge ramps linearly over 8 px, centred on the
    instant's (unblurred) edge; the mask is the instant's square."""
    from gnnannot.data import _render

    h, w, n, v = 40, 80, 3, 8.0
    canvas = np.full((h + 20, w + 20, 3), 40, np.uint8)
    bg_maps = np.repeat(np.array([[[1.0, 0, -10], [0, 1, -10]]]), n, axis=0)
    obj_maps = np.array([[[1.0, 0, 10 + v * t], [0, 1, 8]] for t in range(n)])
    alpha = np.zeros((24, 24), np.float32)
    alpha[:, :] = 1.0
    tex = np.full((24, 24, 3), 200, np.uint8)
    scene = _render.Scene(_render.Layer(canvas, None, bg_maps),
                          [_render.Layer(tex, alpha, obj_maps, float(alpha.sum()))],
                          n, h, w, exposure=1.0)
    sharp, _, _ = _render.render_frame(scene, 1, blur=False)
    blurred, labels, _ = _render.render_frame(scene, 1)
    row = 20
    edge = 10 + v + 23  # right edge of the square at the instant t = 1 (last column)
    assert labels[row, int(edge)] == 1 and labels[row, int(edge) + 1] == 0
    assert np.array_equal(sharp[row, :, 0] > 120, labels[row] == 1)
    prof = blurred[row, :, 0]
    xs = np.arange(w)
    # exposure [t-1/2, t+1/2]: each edge sweeps 8 px -> linear ramps; coverage of column x
    # = the fraction of the exposure it lies inside [left(tau) - 1/2, right(tau) + 1/2]
    taus = np.linspace(0.5, 1.5, 2001)[:, None]
    left = 10 + v * taus
    expect = 40 + 160 * ((xs >= left - 0.5) & (xs <= left + 23.5)).mean(0)
    assert np.abs(prof - expect).max() < 12  # sub-frame sampling and bilinear edges
    ramp = (expect > 45) & (expect < 195)
    assert ramp.sum() >= 12  # both edges smeared over ~8 px
    assert prof[int(edge) + 2] > 60 and prof[int(edge) - 3] < 190  # blur both sides
    # no blur far from the edge
    assert prof[int(edge) - 10] == pytest.approx(200, abs=1) and prof[70] == 40


def _texel(layer, t: int, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texel coordinates seen at frame points (ys, xs) at time t (forward maps only)."""
    inv = cv2.invertAffineTransform(layer.maps[t])
    vx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    vy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    if layer.deform is None:
        return vx, vy
    dx, dy = layer.deform.disp(vx, vy, t)
    return vx + dx, vy + dy


def test_true_flow_follows_texels_under_deformation_and_shake() -> None:
    """True flow = where the same texel is one frame later: on every visible pixel of a
    non-rigid object (and the shaken background) the texel seen at p in frame t is the
    texel seen at p + flow in frame t+1 (and backward likewise)."""
    checked = 0
    for i in range(40):
        rng = syn.video_rng(2, f"deform-{i}")
        scene = syn._build_scene(rng, 3, 96, 160, 2, effects=True)
        if not any(lay.deform is not None for lay in scene.objects):
            continue
        frames, masks, _, fw, bw = syn._render_scene(scene, None, True)
        layers = [scene.bg, *scene.objects]
        for t in range(2):
            for idx, layer in enumerate(layers):
                for src, dst, flow in ((t, t + 1, fw[t]), (t + 1, t, bw[t])):
                    ys, xs = np.nonzero(masks[src] == idx)
                    if not len(ys):
                        continue
                    ys, xs = ys.astype(float), xs.astype(float)
                    u0 = _texel(layer, src, ys, xs)
                    u1 = _texel(layer, dst, ys + flow[ys.astype(int), xs.astype(int), 0],
                                xs + flow[ys.astype(int), xs.astype(int), 1])
                    err = np.hypot(u0[0] - u1[0], u0[1] - u1[1])
                    assert err.max() < 2e-3, (i, idx, err.max())  # float32 flow storage
        checked += 1
        if checked >= 3:
            break
    assert checked == 3
    from gnnannot.data import _effects

    d = _effects.random_deform(np.random.default_rng(0), 200, 0.3)
    assert d.max_grad < 0.31
    ux, uy = d.forward(np.array([10.0, 150.0]), np.array([80.0, 20.0]), 2.5)
    vx, vy = d.inverse(ux, uy, 2.5)
    assert np.allclose([vx, vy], [[10.0, 150.0], [80.0, 20.0]], atol=1e-4)


def test_effects_change_pixels_not_geometry() -> None:
    """Blur and lighting change the image only: masks and flow equal a blur- and
    lighting-free render of the same scene, frames do not; the lighting gain stays in
    0.55..1.4 x (a shadow darkens by at most 55%)."""
    from gnnannot.data import _render

    for i in range(30):
        scene = syn._build_scene(syn.video_rng(4, f"fx-{i}"), 4, 72, 128, 2, effects=True)
        if scene.exposure > 0 and scene.lighting is not None:
            break
    else:
        raise AssertionError("no scene with blur and lighting")
    f1, m1, _, fw1, _ = syn._render_scene(scene, None, True)
    plain = _render.Scene(scene.bg, scene.objects, scene.n, scene.h, scene.w)
    f0, m0, _, fw0, _ = syn._render_scene(plain, None, True)
    assert np.array_equal(m0, m1) and np.array_equal(fw0, fw1)
    assert not np.array_equal(f0, f1)
    for t in range(scene.n):
        g = scene.lighting.field(t, 72, 128)
        assert 0.55 * 0.45 - 1e-6 <= g.min() and g.max() <= 1.4 + 1e-6


def test_val_split_sizes_and_three_scribbles(tmp_path: Path) -> None:
    root = tmp_path / "v"
    syn.generate_dataset(root, seed=1, n_train=2, n_val=3, n_frames=4, val_frames=[5, 9],
                         height=72, width=128, max_objects=4, val_scribbles=3, effects=True,
                         quiet=True)
    meta = syn.read_meta(root)
    assert read_split(root, "val") == meta["val"] and len(meta["val"]) == 3
    for seq in read_split(root, "train"):
        assert len(read_frames(root, seq)) == 4
        assert sorted(p.name for p in (root / "Scribbles" / seq).iterdir()) == ["001.json"]
    for seq in read_split(root, "val"):
        masks = read_annotations(root, seq)
        assert 5 <= len(masks) <= 9 and meta["videos"][seq]["n_frames"] == len(masks)
        files = sorted((root / "Scribbles" / seq).iterdir())
        assert [p.name for p in files] == ["001.json", "002.json", "003.json"]
        frames = [_check_scribble(read_scribble(p, len(masks), int(masks.max())), masks, 10)
                  for p in files]
        assert len(set(frames)) == 3 and frames == meta["videos"][seq]["scribble_frames"]
    # the true flow regenerates from the per-video length
    fw, _ = syn.true_flow(root, meta["val"][0])
    assert len(fw) == meta["videos"][meta["val"][0]]["n_frames"] - 1
    with pytest.raises(syn.ConfigError, match="val_frames"):
        syn.generate_dataset(tmp_path / "x", val_frames=[9, 5], quiet=True)


def test_colour_match_takes_the_background_statistics() -> None:
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 120, (40, 40, 3), dtype=np.uint8)
    ref = np.clip(rng.normal([150, 90, 60], [12, 8, 5], (30, 30, 3)), 0, 255).astype(np.uint8)
    out = syn._colour_match(tex, ref, np.random.default_rng(1)).astype(float)
    ref_f = ref.astype(float).reshape(-1, 3)
    assert np.allclose(out.reshape(-1, 3).mean(0), ref_f.mean(0), atol=1.5)
    ratio = out.reshape(-1, 3).std(0) / ref_f.std(0)
    assert np.all((ratio > 0.75) & (ratio < 1.25))  # std x uniform(0.8, 1.2)
    # the texture's pattern is kept: per-pixel correlation with the input stays high
    assert np.corrcoef(out[..., 0].ravel(), tex[..., 0].astype(float).ravel())[0, 1] > 0.95
