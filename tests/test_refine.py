"""Pixel refinement (gnnannot.methods.refine): the guided filter against a brute-force per-window
ridge regression, hand-built superpixels straddling an edge, the band, scribbled pixels
always keeping their label (alone and through a whole interactive session)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt
from toy_graphs import grid_graph

from gnnannot.errors import ConfigError
from gnnannot.ivos.robot import ScribbleRobot
from gnnannot.ivos.scribbles import rasterize_frame
from gnnannot.ivos.session import VideoData, run_session
from gnnannot.methods.baselines import RandomWalker, SuperpixelOracle
from gnnannot.methods.refine import (
    RefinedMethod,
    RefineParams,
    boundary_band,
    guided_filter,
    refine_frame,
    refine_params,
    with_refinement,
)


def brute_guided(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """The guided filter by its definition: in every (2r+1)^2 window (borders mirrored,
    edge pixel repeated) fit p ~ a . I + b minimising sum (a.I + b - p)^2 + eps |a|^2
    per pixel with lstsq, then average the fits of the windows holding each pixel."""
    h, w = p.shape
    gp = np.pad(guide.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="symmetric")
    pp = np.pad(p.astype(np.float64), r, mode="symmetric")
    n = (2 * r + 1) ** 2
    a = np.zeros((h, w, 3))
    b = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            win_i = gp[y:y + 2 * r + 1, x:x + 2 * r + 1].reshape(n, 3)
            win_p = pp[y:y + 2 * r + 1, x:x + 2 * r + 1].reshape(n)
            lhs = np.vstack([np.hstack([win_i, np.ones((n, 1))]),
                             np.hstack([np.sqrt(n * eps) * np.eye(3), np.zeros((3, 1))])])
            rhs = np.concatenate([win_p, np.zeros(3)])
            sol = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
            a[y, x], b[y, x] = sol[:3], sol[3]
    ap = np.pad(a, ((r, r), (r, r), (0, 0)), mode="symmetric")
    bp = np.pad(b, r, mode="symmetric")
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            ma = ap[y:y + 2 * r + 1, x:x + 2 * r + 1].reshape(n, 3).mean(axis=0)
            mb = bp[y:y + 2 * r + 1, x:x + 2 * r + 1].mean()
            out[y, x] = ma @ guide[y, x] + mb
    return out


def test_guided_filter_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    guide = rng.random((9, 11, 3)).astype(np.float32)
    maps = rng.random((2, 9, 11)).astype(np.float32)
    got = guided_filter(guide, maps, radius=2, eps=0.01)
    for k in range(2):
        np.testing.assert_allclose(got[k], brute_guided(guide, maps[k], 2, 0.01), atol=2e-4)
    # ``where`` returns exactly the values at those pixels
    where = rng.random((9, 11)) > 0.5
    np.testing.assert_allclose(guided_filter(guide, maps, 2, 0.01, where=where),
                               got[:, where], atol=1e-6)  # fmt: skip


def test_guided_filter_keeps_constants_and_is_linear() -> None:
    rng = np.random.default_rng(1)
    guide = rng.random((40, 48, 3)).astype(np.float32)
    maps = rng.random((2, 40, 48)).astype(np.float32)
    for s in (1, 2, 4):
        const = guided_filter(guide, np.full((1, 40, 48), 0.3, np.float32), 4, 1e-3, s)
        np.testing.assert_allclose(const, 0.3, atol=1e-4)
        q = guided_filter(guide, maps, 4, 1e-3, s)
        q_sum = guided_filter(guide, maps.sum(axis=0, keepdims=True), 4, 1e-3, s)
        np.testing.assert_allclose(q.sum(axis=0), q_sum[0], atol=1e-4)


def test_band_is_euclidean_distance_to_label_boundaries() -> None:
    rng = np.random.default_rng(2)
    mask = np.zeros((30, 40), np.uint8)
    mask[8:20, 10:25] = 1
    mask[15:28, 22:36] = 2
    edge = np.zeros(mask.shape, bool)  # both sides of every 4-neighbour label change
    for y in range(30):
        for x in range(40):
            for dy, dx in ((0, 1), (1, 0)):
                yy, xx = y + dy, x + dx
                if yy < 30 and xx < 40 and mask[y, x] != mask[yy, xx]:
                    edge[y, x] = edge[yy, xx] = True
    for width in (1, 3, 6):
        expected = distance_transform_edt(~edge) <= width
        np.testing.assert_array_equal(boundary_band(mask, width), expected)
    assert not boundary_band(np.full((5, 5), 2, np.uint8), 3).any()
    del rng


def _edge_image(h: int, w: int, edge_x: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float64)
    img[:, :edge_x] = (200, 60, 40)
    img[:, edge_x:] = (50, 90, 190)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_superpixel_straddling_an_edge_is_split_at_the_edge() -> None:
    """A red object (x < 30) on blue; the superpixel labels put the object boundary at
    x = 26 (a straddling superpixel went to the background) or x = 33 (it went to the
    object): the refined mask follows the colour edge (>= 75% of the wrong pixels fixed,
    the rest within 3 px of the edge). (Strips wider than about
    half the filter window are not corrected: there the wrong label is the local
    majority of that colour.)"""
    h, w = 40, 64
    img = _edge_image(h, w, 30)
    truth = np.zeros((h, w), np.uint8)
    truth[:, :30] = 1
    for raw_edge in (26, 33):  # the straddling superpixel labelled bg, or labelled fg
        mask = np.zeros((h, w), np.uint8)
        mask[:, :raw_edge] = 1
        out = refine_frame(img, mask)
        bad = np.nonzero(out != truth)
        assert len(bad[0]) <= 0.25 * np.count_nonzero(mask != truth)
        assert np.all(np.abs(bad[1] - 29.5) <= 3)
        # pixels farther than the band from the superpixel labels' boundary never change
        far = ~boundary_band(mask, RefineParams().band)
        np.testing.assert_array_equal(out[far], mask[far])


def test_two_objects_and_exact_filter() -> None:
    """Three labels meeting, every boundary 3 px off: each refined boundary lands on its
    colour edge, up to 2 pixels (subsample 1 and 2, one and two iterations)."""
    h, w = 48, 72
    rng = np.random.default_rng(3)
    truth = np.zeros((h, w), np.uint8)
    truth[8:40, 10:34] = 1
    truth[8:40, 34:60] = 2
    colours = np.array([(40, 160, 60), (210, 50, 50), (40, 60, 220)], np.float64)
    img = np.clip(colours[truth] + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros_like(truth)
    mask[5:43, 7:31] = 1  # object 1 shifted left and grown vertically by 3 px
    mask[11:37, 31:63] = 2  # object 2 shifted and shrunk vertically by 3 px
    for s, it in ((1, 1), (2, 1), (2, 2)):
        out = refine_frame(img, mask, params=RefineParams(subsample=s, iterations=it))
        assert np.count_nonzero(out != truth) <= 2  # of 570 wrong before


def test_scribbled_pixels_keep_their_label() -> None:
    """Random image, random blocky labels, random strokes with random labels (also
    against the colours): every scribbled pixel has its scribbled label in the output,
    with refinement on or off."""
    rng = np.random.default_rng(4)
    h, w = 50, 70
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.kron(rng.integers(0, 3, (5, 7)), np.ones((10, 10), np.int64)).astype(np.uint8)
    for _ in range(5):
        strokes = [{"path": rng.random((6, 2)).tolist(), "object_id": int(rng.integers(0, 3))}
                   for _ in range(4)]  # fmt: skip
        scr = rasterize_frame(strokes, h, w)
        for p in (RefineParams(), RefineParams(enabled=False)):
            out = refine_frame(img, mask, scr, p)
            hit = scr >= 0
            assert hit.any()
            np.testing.assert_array_equal(out[hit], scr[hit])
            if not p.enabled:
                np.testing.assert_array_equal(out[~hit], mask[~hit])


def test_refine_params() -> None:
    assert refine_params(None) == RefineParams() == refine_params(True)
    assert not refine_params(False).enabled
    assert refine_params({"band": 4}).band == 4
    with pytest.raises(ConfigError, match="unknown keys"):
        refine_params({"bandd": 4})
    with pytest.raises(ConfigError, match="band"):
        RefineParams(band=0)
    with pytest.raises(ConfigError, match="eps"):
        RefineParams(eps=0.0)


# --------------------------------------------------------------------------- a session


def test_session_scribbles_respected_and_oracle_ceiling_passed() -> None:
    """A disc whose edge cuts through the 8 px grid superpixels: refinement lifts the
    superpixel oracle's J, and in a whole refined random-walker session (robot
    corrections included) no scribbled pixel of any interaction ever has another label
    on its frame."""
    frames, h, w = 3, 48, 64
    yy, xx = np.mgrid[:h, :w]
    gt = np.stack([((yy - 23) ** 2 + (xx - 29 - 2 * t) ** 2 < 15 ** 2) for t in range(frames)])
    gt = gt.astype(np.uint8)
    rng = np.random.default_rng(5)
    colours = np.array([(60, 150, 70), (200, 60, 50)], np.float64)
    img = np.clip(colours[gt] + rng.normal(0, 3, (frames, h, w, 3)), 0, 255).astype(np.uint8)
    g = grid_graph(frames, h, w, 8)
    video = VideoData("toy", img, 1)

    def jac(masks: np.ndarray) -> float:
        return float(np.mean([(m & t).sum() / (m | t).sum()
                              for m, t in zip(masks.astype(bool), gt.astype(bool),
                                              strict=True)]))  # fmt: skip

    oracle = SuperpixelOracle(lambda s: g, lambda s: gt)
    oracle.start(video)
    empty = {"scribbles": [[] for _ in range(frames)], "sequence": "toy"}
    raw = oracle.interact(empty)
    refined = with_refinement(SuperpixelOracle(lambda s: g, lambda s: gt), True)
    refined.start(video)
    j_raw, j_ref = jac(raw), jac(refined.interact(empty))
    assert j_ref > j_raw + 0.05 and j_ref > 0.95

    scribble = {"scribbles": [[] for _ in range(frames)], "sequence": "toy"}
    scribble["scribbles"][1] = [
        {"path": [[0.3, 0.5], [0.6, 0.5]], "object_id": 1},
        {"path": [[0.02, 0.05], [0.95, 0.1], [0.95, 0.95]], "object_id": 0},
    ]
    method = RefinedMethod(RandomWalker(lambda s: g))
    seen: list[dict] = []

    class Recorder:  # records every scribble the session hands over, and the masks
        def start(self, v: VideoData) -> None:
            method.start(v)

        def interact(self, s: dict) -> np.ndarray:
            masks = method.interact(s)
            seen.append((s, masks.copy()))
            return masks

    run_session(video, gt, scribble, Recorder(), robot=ScribbleRobot(), max_interactions=4,
                max_time=None, interaction_limit=None)  # fmt: skip
    assert len(seen) == 4
    checked = 0
    for s, masks in seen:
        for t, strokes in enumerate(s["scribbles"]):
            if strokes:
                lab = rasterize_frame(strokes, h, w)
                hit = lab >= 0
                np.testing.assert_array_equal(masks[t][hit], lab[hit])
                checked += int(hit.sum())
    assert checked > 50
