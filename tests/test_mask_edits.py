"""Wide strokes and mask edits (gnnannot.annotate.mask_edits) against brute-force
references, and the GNN checkpoint shipped inside the package (it loads, feeds this
version's features, and ``--method auto`` picks it wherever it runs)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gnnannot.annotate.annotator import choose_method
from gnnannot.annotate.mask_edits import Constraints, davis_strokes, rasterise
from gnnannot.checkpoints import SHIPPED_CHECKPOINT, shipped_info
from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.scribbles import rasterize_frame

H, W = 40, 60


def px(x: int, y: int) -> list[float]:
    """Normalised DAVIS coordinates of pixel (x, y) (as the page sends them)."""
    return [(x + 0.5) / (W - 1), (y + 0.5) / (H - 1)]


def seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points ``p (n, 2)`` to the segment a-b."""
    d = b - a
    L = float(d @ d)
    t = np.zeros(len(p)) if L == 0 else np.clip((p - a) @ d / L, 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * d), axis=1)


@pytest.mark.parametrize("radius", [0, 1, 3, 6])
def test_rasterise_is_the_disc_swept_along_the_path(radius):
    pts = [(5, 5), (40, 12), (30, 33)]
    cover = rasterise([px(*p) for p in pts], radius, (H, W))
    yy, xx = np.mgrid[0:H, 0:W]
    grid = np.stack([xx.ravel(), yy.ravel()], 1).astype(float)
    dist = np.min([seg_dist(grid, np.array(a, float), np.array(b, float))
                   for a, b in zip(pts[:-1], pts[1:], strict=True)], axis=0).reshape(H, W)
    # brute force: every pixel within radius of the path is covered, none beyond
    # radius + 1 (the polyline's pixels lie within 0.5 px of the path)
    assert cover[dist <= radius].all()
    assert not cover[dist > radius + 1].any()
    if radius == 0:  # the DAVIS one-pixel polyline
        ref = rasterize_frame([{"path": [px(*p) for p in pts], "object_id": 1}], H, W)
        assert np.array_equal(cover, ref == 1)


def test_single_point_is_a_disc():
    cover = rasterise([px(20, 15)], 4, (H, W))
    yy, xx = np.mgrid[0:H, 0:W]
    d2 = (xx - 20) ** 2 + (yy - 15) ** 2
    assert cover[d2 <= 16].all() and not cover[d2 > 20.25].any()  # within 4.5 px


def test_davis_strokes_cover_the_same_pixels():
    s = {"frame": 0, "object_id": 2, "path": [px(10, 10), px(50, 30)], "kind": "scribble",
         "radius": 3}  # fmt: skip
    lab = rasterize_frame(davis_strokes(s, (H, W)), H, W)
    assert np.array_equal(lab == 2, rasterise(s["path"], 3, (H, W)))
    erase = {**s, "kind": "erase"}  # an eraser seeds background, whatever its object
    lab = rasterize_frame(davis_strokes(erase, (H, W)), H, W)
    assert np.array_equal(lab == 0, rasterise(s["path"], 3, (H, W)))
    plain = {**s, "radius": 0}  # a plain scribble goes through unchanged
    assert davis_strokes(plain, (H, W))[0]["path"] == s["path"]


def test_constraints_force_pixels_later_strokes_win():
    mask_a = {"frame": 1, "object_id": 1, "path": [px(5, 20), px(30, 20)], "kind": "mask",
              "radius": 4}  # fmt: skip
    erase = {"frame": 1, "object_id": 1, "path": [px(20, 10), px(20, 30)], "kind": "erase",
             "radius": 2}  # fmt: skip
    mask_b = {"frame": 1, "object_id": 2, "path": [px(25, 20)], "kind": "mask", "radius": 3}
    scrib = {"frame": 1, "object_id": 2, "path": [px(50, 5), px(55, 35)], "radius": 5}
    other = {"frame": 3, "object_id": 2, "path": [px(1, 1)], "kind": "mask", "radius": 1}
    cons = Constraints([mask_a, erase, mask_b, scrib, other], (H, W))
    assert sorted(cons.layers) == [1, 3]  # the scribble constrains nothing
    pred = np.full((H, W), 2, np.uint8)
    out = cons(1, pred)
    ref = pred.copy()  # painted in order by hand
    for s, v in ((mask_a, 1), (erase, 0), (mask_b, 2)):
        ref[rasterise(s["path"], s["radius"], (H, W))] = v
    assert np.array_equal(out, ref)
    assert (out == 0).any() and (out == 1).any()
    assert np.array_equal(pred, np.full((H, W), 2))  # input untouched
    assert cons(0, pred) is pred  # frames without edits pass through
    wrapped = cons.wrap(lambda t: np.zeros((H, W), np.uint8))
    assert wrapped(3)[1, 1] == 2 and wrapped(0).sum() == 0
    assert not Constraints([scrib], (H, W))


# ---------------------------------------------------------------- shipped checkpoint
def test_shipped_checkpoint_loads_and_fits_this_version():
    from gnnannot.methods.gnn import FEATURE_VIEW
    from gnnannot.model.checkpoint import load_checkpoint

    assert SHIPPED_CHECKPOINT.is_file()
    assert SHIPPED_CHECKPOINT.stat().st_size < 2_000_000  # small package data
    model, meta = load_checkpoint(SHIPPED_CHECKPOINT)
    assert meta["extra"]["feature_view"] == FEATURE_VIEW
    assert sum(p.numel() for p in model.parameters()) > 0
    info = shipped_info()
    assert info["sha256"] == hashlib.sha256(SHIPPED_CHECKPOINT.read_bytes()).hexdigest()
    assert info["bytes"] == SHIPPED_CHECKPOINT.stat().st_size


def test_auto_uses_the_shipped_checkpoint_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no models/ here
    c = choose_method("auto")
    assert (c.name, c.checkpoint) == ("gnn", SHIPPED_CHECKPOINT)
    assert "shipped checkpoint" in c.reason
    own = tmp_path / "mine.pt"
    own.write_bytes(SHIPPED_CHECKPOINT.read_bytes())
    c = choose_method("auto", own)  # --checkpoint overrides
    assert c.checkpoint == own and f"--checkpoint {own}" in c.reason
    c = choose_method("auto", tmp_path / "missing.pt")
    assert c.name == "random_walker" and "missing.pt not found" in c.reason
    with pytest.raises(ConfigError, match="missing.pt"):
        choose_method("gnn", tmp_path / "missing.pt")
    assert choose_method("random_walker").reason == "random_walker (--method random_walker)"


def test_ship_script_copies_and_records(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import ship_model
    finally:
        sys.path.pop(0)
    dest = tmp_path / "default.pt"
    rec = ship_model.ship(SHIPPED_CHECKPOINT, dest, note="test")
    assert dest.read_bytes() == SHIPPED_CHECKPOINT.read_bytes()
    assert json.loads(dest.with_suffix(".json").read_text()) == rec
    assert rec["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="bad.pt"):
        ship_model.ship(bad, tmp_path / "other.pt")
    assert not (tmp_path / "other.pt").exists()


# ---------------------------------------------------------------- key frames
def test_key_frames_are_the_shown_mask_with_the_edits_in_order():
    from gnnannot.annotate.mask_edits import edited_frames, keyframe_labels, keyframe_strokes
    from gnnannot.ivos.scribbles import rasterize_scribbles

    rng = np.random.default_rng(0)
    shown = {t: rng.integers(0, 3, (H, W)).astype(np.uint8) for t in range(4)}
    strokes = [
        {"frame": 1, "object_id": 2, "path": [px(10, 10)]},  # a scribble: not an edit
        {"frame": 2, "object_id": 1, "path": [px(5, 5), px(30, 5)], "kind": "mask", "radius": 3},
        {"frame": 2, "object_id": 0, "path": [px(20, 2), px(20, 30)], "kind": "erase",
         "radius": 1},
        {"frame": 3, "object_id": 2, "path": [px(40, 20)], "kind": "mask", "radius": 5},
    ]  # fmt: skip
    assert edited_frames(strokes) == [2, 3]
    keys = keyframe_labels(strokes, lambda t: shown[t], (H, W))
    assert sorted(keys) == [2, 3]  # frame 1 has only a scribble
    ref = shown[2].copy()  # brute force: the shown frame, the mask, then the eraser on top
    ref[rasterise(strokes[1]["path"], 3, (H, W))] = 1
    ref[rasterise(strokes[2]["path"], 1, (H, W))] = 0
    assert np.array_equal(keys[2], ref)
    assert (keys[3] != shown[3]).sum() > 0 and not (keys[3] != shown[3])[:, :25].any()
    # no masks yet: the rest of the frame is background
    first = keyframe_labels(strokes, None, (H, W))
    assert set(np.unique(first[3])) == {0, 2} and (first[3] == 2).sum() == rasterise(
        strokes[3]["path"], 5, (H, W)).sum()  # fmt: skip
    # as DAVIS strokes they rasterise back to the labels on every pixel
    davis = keyframe_strokes(strokes, lambda t: shown[t], (H, W))
    scr = {"scribbles": [davis.get(t, []) for t in range(4)]}
    back = rasterize_scribbles(scr, H, W)
    for t in (2, 3):
        assert np.array_equal(back[t], keys[t].astype(back[t].dtype))
