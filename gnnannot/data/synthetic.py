"""Deterministic synthetic video dataset in DAVIS layout, with exact optical flow.

Each video is a stack of textured layers composited back to front (rendering and the
definition of the true flow: :mod:`gnnannot.data._render`):

* a background picture larger than the frame, seen through a moving camera (smooth pan
  and slight zoom: a sliding window);
* 1..``max_objects`` objects: silhouettes (the scikit-image horse, random smooth blobs
  with limbs, or objects with thin parts 2-8 px wide: jointed legs, a pole with a string,
  spoked wheels) filled with photo textures from the images shipped in the scikit-image
  wheel; some objects are camouflaged (texture cut from the background picture itself)
  or recoloured to the background's colour statistics. Objects move along smooth random
  walks with rotation and scale change (some fast), occlude each other in a fixed random
  depth order, and some deform non-rigidly;
* with ``effects`` (on in ``params.yaml``), what real footage has: motion blur (exposure
  of 30-100% of the frame interval), hand-held camera shake, lighting change (gain drift,
  a moving shadow edge), non-rigid motion, fast motion and colour-matched objects;
* small sensor noise (uniform -2..2 grey levels) on every frame.

Determinism: one ``numpy.random.Generator`` per video, seeded from ``(seed, crc32(name))``,
so a video does not depend on how many others are generated; a video's length (when
drawn from a range) comes from a second generator seeded from ``(seed, crc32(name), 1)``.
OpenCV warps and JPEG/PNG encoding are deterministic, so equal arguments give
byte-identical files.

Scribble coordinates: ``x / (W - 1)``, ``y / (H - 1)`` of the pixel-centre coordinates
(``davisinteractive``'s ``scribbles2mask`` multiplies by ``W - 1``/``H - 1``). Every point
is kept >= 2.5 px inside its region, so rasterising with ``x * W`` instead lands in the
same region.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.atomic import write_json
from gnnannot.data import _effects, _shapes, _strokes, _textures, numerics
from gnnannot.data._render import Layer as _Layer
from gnnannot.data._render import Scene as _Scene
from gnnannot.data._render import _compose
from gnnannot.data._render import flow as _flow
from gnnannot.data._render import render_labels as _render_labels
from gnnannot.data._render import render_scene as _render_scene
from gnnannot.data.davis import (
    read_annotations,
    write_scribble,
    write_sequence,
    write_split,
)
from gnnannot.data.numerics import portable_numerics
from gnnannot.errors import ConfigError, DataError
from gnnannot.progress import track
from gnnannot.atomic import atomic_file

__all__ = [
    "GENERATOR_VERSION", "SyntheticVideo", "generate_dataset", "load_flow", "make_scribble",
    "make_scribbles", "make_video", "occlusion_from_labels", "read_meta", "save_flow",
    "true_flow", "video_length", "video_names", "video_rng",
]
_RENDER_API = (_Layer, _Scene, _flow, _render_labels, _render_scene)  # used by the tests

GENERATOR_VERSION = 2
META_FILE = "synthetic.json"
THIN_WIDTH_PX = (2.0, 8.0)  # frame width of thin parts (px), at any object scale
_THIN_MIN_SCALE = 0.75  # objects with thin parts shrink to at most this of their sprite


@dataclass
class SyntheticVideo:
    """One generated video.

    frames ``(T, H, W, 3) uint8`` RGB (before JPEG); masks ``(T, H, W) uint8`` visible
    object ids 1..n_objects (0 = background); flow_forward / flow_backward
    ``(T-1, H, W, 2) float32`` (y, x) true flow (None if not requested); scribble: the
    DAVIS scribble dict of the first interaction (strokes on ``scribble_frame`` only);
    scribbles: all starting scribbles (``scribbles[0] is scribble``), each on one frame;
    visibility ``(T, n_objects) float32``: visible / unoccluded in-frame area per object;
    info: what the video contains (effects, per-object kind, thin parts, motion).
    """

    name: str
    frames: np.ndarray
    masks: np.ndarray
    flow_forward: np.ndarray | None
    flow_backward: np.ndarray | None
    scribble: dict[str, Any]
    n_objects: int
    scribble_frame: int = 0
    visibility: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    camouflaged: list[bool] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)
    scribbles: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- seeds/names
def video_names(n_train: int, n_val: int) -> tuple[list[str], list[str]]:
    """Sequence names ``synth-train-000``... and ``synth-val-000``..."""
    return (
        [f"synth-train-{i:03d}" for i in range(n_train)],
        [f"synth-val-{i:03d}" for i in range(n_val)],
    )


def video_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one video: seeded from ``seed`` and a stable hash of ``name``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))


def _frame_range(value: int | Sequence[int], key: str) -> tuple[int, int]:
    """``n`` or ``[lo, hi]`` -> an inclusive length range, checked."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        lo = hi = int(value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        lo, hi = (int(v) for v in value)
    else:
        raise ConfigError(f"synthetic {key}: expected an int or [min, max], found {value!r}")
    if lo < 2 or hi < lo:
        raise ConfigError(f"synthetic {key}: expected 2 <= min <= max, found {value!r}")
    return lo, hi


def video_length(seed: int, name: str, frames: int | Sequence[int]) -> int:
    """Length of video ``name``: ``frames`` itself, or drawn uniformly from the inclusive
    range ``[lo, hi]`` with a generator of its own (independent of the video's content)."""
    lo, hi = _frame_range(frames, "n_frames")
    if lo == hi:
        return lo
    seq = np.random.SeedSequence([int(seed), zlib.crc32(name.encode()), 1])
    return int(np.random.default_rng(seq).integers(lo, hi + 1))


# --------------------------------------------------------------------------- motion
def _walk(
    rng: np.random.Generator,
    n: int,
    start: np.ndarray,
    vel: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    accel: float,
    vmax: float,
    soft: float = 0.15,
) -> np.ndarray:
    """A smooth random walk ``(n, d)``: random acceleration, speed capped at ``vmax``, and a
    spring pushing back when within ``soft`` (fraction of the range) of ``[lo, hi]``."""
    pos = np.array(start, float)
    v = np.array(vel, float)
    span = np.maximum(hi - lo, 1e-9)
    inner_lo, inner_hi = lo + soft * span, hi - soft * span
    out = np.empty((n, len(pos)))
    for t in range(n):
        out[t] = pos
        a = rng.normal(0, accel, len(pos))
        a += 0.25 * vmax * (np.clip(inner_lo - pos, 0, None) - np.clip(pos - inner_hi, 0, None)) / (
            soft * span
        )
        v = v + a
        sp = np.linalg.norm(v)
        if sp > vmax:
            v *= vmax / sp
        pos = pos + v
    return out


def _affine(
    scale: float, angle: float, centre_src: np.ndarray, centre_dst: np.ndarray
) -> np.ndarray:
    """2x3 map: rotate by ``angle`` (rad) and scale about ``centre_src`` -> ``centre_dst``."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    m = np.array([[c, -s], [s, c]])
    return np.concatenate([m, (centre_dst - m @ centre_src)[:, None]], axis=1)


# --------------------------------------------------------------------------- effects
@dataclass
class _Effects:
    """Per-video effect choices (all off without ``effects``)."""

    exposure: float = 0.0  # motion blur: exposure in frame intervals (0 = none)
    shake: tuple[float, float] = (0.0, 0.0)  # camera shake: translation sigma px, rotation deg
    lighting: bool = False
    p_thin: float = 0.0  # per object: thin parts
    p_nonrigid: float = 0.0
    p_fast: float = 0.0
    p_colour_match: float = 0.0


def _draw_effects(rng: np.random.Generator, w: int, on: bool) -> _Effects:
    if not on:
        return _Effects()
    unit = w / 854.0
    fx = _Effects(p_thin=0.35, p_nonrigid=0.45, p_fast=0.25, p_colour_match=0.3)
    if rng.random() < 0.55:
        fx.exposure = float(rng.uniform(0.3, 1.0))
    if rng.random() < 0.45:
        fx.shake = (float(rng.uniform(1.0, 4.0) * unit), float(rng.uniform(0.1, 0.6)))
    fx.lighting = bool(rng.random() < 0.5)
    return fx


# --------------------------------------------------------------------------- layers
def _background(
    rng: np.random.Generator, n: int, h: int, w: int, margin: float = 0.0
) -> tuple[_Layer, str]:
    """The background layer and its source name: canvas ``1.4x`` the frame, camera walk;
    the window stays ``margin`` px inside the canvas (room for camera shake)."""
    ch, cw = int(round(h * 1.4)), int(round(w * 1.4))
    canvas, src = _textures.background_canvas(ch, cw, rng)
    unit = w / 854.0
    m = min(margin, 0.45 * (ch - h), 0.45 * (cw - w))
    lo, hi = np.array([m, m]), np.array([cw - w - m, ch - h - m], float)
    if rng.random() < 0.12:  # static camera
        cam = np.repeat(rng.uniform(lo, hi)[None], n, axis=0)
        zoom = np.ones(n)
    else:
        speed = rng.uniform(1.0, 7.0) * unit
        ang = rng.uniform(0, 2 * np.pi)
        cam = _walk(
            rng, n, rng.uniform(lo, hi),
            speed * np.array([np.cos(ang), 0.4 * np.sin(ang)]),
            lo, hi, 0.25 * unit, 8.0 * unit,
        )
        cam = np.clip(cam, lo, hi)
        if rng.random() < 0.5:
            zoom = numerics.exp(_walk(rng, n, [rng.uniform(0, 0.08)], [rng.normal(0, 0.004)],
                                np.zeros(1), np.full(1, 0.1), 0.001, 0.01)[:, 0])
            zoom = np.clip(zoom, 1.0, 1.105)
        else:
            zoom = np.ones(n)
    maps = np.zeros((n, 2, 3))
    for t in range(n):
        z = zoom[t]
        # frame pixel p = z * (X - cam) about the frame centre: keeps the window in canvas
        c = np.array([w - 1, h - 1]) / 2.0
        maps[t] = _affine(z, 0.0, cam[t] + c, c)
    return _Layer(canvas, None, maps), src


def _bg_patch(rng: np.random.Generator, bg: _Layer, sprite: int) -> np.ndarray:
    """A random square patch (side ``min(sprite, canvas)``) of the background picture."""
    ch, cw = bg.texture.shape[:2]
    s = min(sprite, ch, cw)
    y0, x0 = int(rng.integers(0, ch - s + 1)), int(rng.integers(0, cw - s + 1))
    return bg.texture[y0 : y0 + s, x0 : x0 + s]


def _colour_match(tex: np.ndarray, ref: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Recolour ``tex`` ``(h, w, 3) uint8`` to the per-channel mean and std of ``ref``
    (another photo keeps its texture but takes the background's colours)."""
    t = tex.astype(np.float32)
    r = ref.astype(np.float32).reshape(-1, 3)
    mt, st = t.reshape(-1, 3).mean(0), t.reshape(-1, 3).std(0) + 1e-3
    mr, sr = r.mean(0), r.std(0)
    out = (t - mt) / st * (sr * np.float32(rng.uniform(0.8, 1.2))) + mr
    return np.clip(out, 0, 255).astype(np.uint8)


def _object_layers(
    rng: np.random.Generator, n: int, h: int, w: int, k: int, bg: _Layer, bg_src: str,
    fx: _Effects,
) -> tuple[list[_Layer], list[dict[str, Any]]]:
    """Sprites (texture + alpha) of ``k`` objects, not yet placed (maps filled later), and
    what each one is (kind, camouflage, colour match, thin width, non-rigid, fast)."""
    layers, infos = [], []
    for _ in range(k):
        # every draw for an effect is guarded by its probability: without effects the
        # random stream (and so every video) is generator version 1's
        thin = fx.p_thin > 0 and rng.random() < fx.p_thin
        kind = "thin" if thin else ("horse" if rng.random() < 0.35 else "blob")
        size_px = rng.uniform(0.4, 0.65) * min(h, w) * (1.0 if k == 1 else 0.85)
        size_px *= 1.5 if kind in ("horse", "thin") else 1.0  # thin parts: a larger box
        sprite = max(8, int(round(size_px * 1.3)))  # drawn at the largest scale used
        thin_alpha, line_px = None, 0.0
        if thin:
            lo, hi = THIN_WIDTH_PX
            line_px = float(rng.uniform(lo / _THIN_MIN_SCALE, hi))
            alpha, thin_alpha, kind = _shapes.thin_object(sprite, rng, line_px)
        elif kind == "horse":
            alpha = _shapes.horse(sprite, rng)
        else:
            alpha = _shapes.blob(sprite, rng)
        is_camo = rng.random() < 0.3
        matched = False
        if is_camo:  # texture cut from the background picture itself: similar colours
            tex = cv2.resize(_bg_patch(rng, bg, sprite), (sprite, sprite))
            tex = np.clip(tex.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255)
            tex = tex.astype(np.uint8)
        else:
            tex, _ = _textures.random_photo(sprite, sprite, rng, exclude=bg_src)
            if rng.random() < 0.5:
                tex = _textures.add_detail(tex, rng, rng.uniform(0.04, 0.14))
            if fx.p_colour_match > 0 and rng.random() < fx.p_colour_match:
                # a different texture, the background's colours
                tex = _colour_match(tex, _bg_patch(rng, bg, sprite), rng)
                matched = True
        tex = _textures.shade(tex, rng)
        deform = None
        if not thin and fx.p_nonrigid > 0 and rng.random() < fx.p_nonrigid:
            deform = _effects.random_deform(rng, sprite, float(rng.uniform(0.1, 0.3)))
        fast = bool(fx.p_fast > 0 and rng.random() < fx.p_fast)
        layers.append(_Layer(tex, alpha, np.zeros((n, 2, 3)), float(alpha.sum()), deform,
                             thin_alpha))
        infos.append({"kind": kind, "camouflaged": bool(is_camo), "colour_matched": matched,
                      "thin_px": round(line_px, 3), "nonrigid": deform is not None,
                      "fast": fast})
    return layers, infos


def _place_objects(
    rng: np.random.Generator, layers: list[_Layer], infos: list[dict[str, Any]], n: int,
    h: int, w: int,
) -> None:
    """Fill each object's per-frame maps: smooth walks of position, angle and log-scale;
    later objects often head for an earlier one so that they cross and occlude; fast
    objects move 12-24 px per frame (at 854 px width)."""
    unit = w / 854.0
    lo = np.array([0.12 * w, 0.15 * h])
    hi = np.array([0.88 * w, 0.85 * h])
    paths: list[np.ndarray] = []
    for layer, info in zip(layers, infos, strict=True):
        speed = rng.uniform(1.5, 9.0) * unit
        ang = rng.uniform(0, 2 * np.pi)
        start = rng.uniform(lo, hi)
        if paths and rng.random() < 0.7:  # head for another object's mid-video position
            target = paths[int(rng.integers(len(paths)))][n // 2]
            speed = rng.uniform(3.0, 10.0) * unit
            reach = min(speed * max(n // 2, 1) * rng.uniform(0.8, 1.0), 0.45 * w)
            start = np.clip(target - reach * np.array([np.cos(ang), np.sin(ang)]), lo, hi)
            d = target - start
            ang = float(np.arctan2(d[1], d[0]))
        if info["fast"]:
            speed = rng.uniform(12.0, 24.0) * unit
        pos = _walk(rng, n, start, speed * np.array([np.cos(ang), np.sin(ang)]), lo, hi,
                    (1.0 if info["fast"] else 0.3) * unit, (1.3 if info["fast"] else 1.6) * speed)
        paths.append(pos)
        spin = _walk(rng, n, [rng.uniform(-0.5, 0.5)], [np.deg2rad(rng.uniform(-2, 2))],
                     np.full(1, -0.9), np.full(1, 0.9), np.deg2rad(0.3), np.deg2rad(3.0))[:, 0]
        logs = _walk(rng, n, [rng.uniform(-0.15, 0.15)], [rng.normal(0, 0.012)],
                     numerics.log(np.full(1, 0.75)), numerics.log(np.full(1, 1.3)),
                     0.004, 0.03)[:, 0]
        low = float(numerics.log(1.3 * _THIN_MIN_SCALE if layer.thin is not None else 0.7))
        # sprite drawn at 1.3
        scale = numerics.exp(np.clip(logs, low, float(numerics.log(1.3)))) / 1.3
        c_src = (np.array(layer.alpha.shape[::-1], float) - 1) / 2.0
        for t in range(n):
            layer.maps[t] = _affine(scale[t], spin[t], c_src, pos[t])


# --------------------------------------------------------------------------- scene
def _check_size(n_frames: int, height: int, width: int, max_objects: int) -> None:
    if n_frames < 2:
        raise ConfigError(f"synthetic n_frames: expected >= 2, found {n_frames}")
    if height < 32 or width < 32:
        raise ConfigError(f"synthetic height/width: expected >= 32, found {height}x{width}")
    if not 1 <= max_objects <= 20:
        raise ConfigError(f"synthetic max_objects: expected 1..20, found {max_objects}")


def _build_scene(
    rng: np.random.Generator, n: int, h: int, w: int, max_objects: int, effects: bool = False
) -> _Scene:
    """Draw effects, textures, shapes and motions; retry object motions until every
    object keeps >= 30% of its area visible (in frame, not occluded) in every frame (25
    tries max, then the best try); then add camera shake to every layer."""
    fx = _draw_effects(rng, w, effects)
    k = int(rng.integers(1, max_objects + 1))
    margin = _effects.shake_bound(h, w, *fx.shake) if fx.shake[0] > 0 else 0.0
    bg, bg_src = _background(rng, n, h, w, margin)
    objects, infos = _object_layers(rng, n, h, w, k, bg, bg_src, fx)
    order = rng.permutation(k)  # random depth order (back to front)
    objects = [objects[i] for i in order]
    infos = [infos[i] for i in order]
    factor = min(1.0, 160.0 / min(h, w))  # the check runs at low resolution
    best, best_score = None, -1.0
    for _attempt in range(25):
        _place_objects(rng, objects, infos, n, h, w)
        worst = 1.0
        for t in range(n):
            labels, _ = _render_labels(objects, t, h, w, factor)
            for i, layer in enumerate(objects):
                full = layer.area * abs(np.linalg.det(layer.maps[t][:, :2])) * factor**2
                worst = min(worst, (labels == i + 1).sum() / max(full, 1.0))
            if worst < 0.3:
                break
        if worst > best_score:
            best, best_score = [lay.maps.copy() for lay in objects], worst
        if worst >= 0.3:
            break
    for layer, maps in zip(objects, best, strict=True):
        layer.maps = maps
    if fx.shake[0] > 0:
        shake = _effects.shake_maps(rng, n, h, w, *fx.shake)
        for layer in [bg, *objects]:
            layer.maps = np.stack([_compose(shake[t], layer.maps[t]) for t in range(n)])
    lighting = _effects.random_lighting(rng, n, h, w) if fx.lighting else None
    info = {"exposure": round(fx.exposure, 4), "shake_px": round(fx.shake[0], 3),
            "shake_deg": round(fx.shake[1], 3), "lighting": lighting is not None,
            "objects": infos}
    return _Scene(bg, objects, n, h, w, [i["kind"] for i in infos],
                  [i["camouflaged"] for i in infos], fx.exposure, lighting, info)


# --------------------------------------------------------------------------- scribbles
def _frame_scores(masks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: sum of log visible areas (ties to the middle) ``(T,)`` and the areas
    ``(T, K)``."""
    n = len(masks)
    areas = np.stack([(masks == i).sum(axis=(1, 2)) for i in range(1, k + 1)], axis=1)
    score = numerics.log(areas + 1.0).sum(axis=1) - 1e-3 * np.abs(np.arange(n) - (n - 1) / 2)
    return score, areas


def _pick_scribble_frame(masks: np.ndarray, k: int) -> int:
    """The frame where all objects are best visible (sum of log visible areas), ties to
    the middle."""
    return int(np.argmax(_frame_scores(masks, k)[0]))


def _candidate_frames(masks: np.ndarray, k: int, used: list[int]) -> list[int]:
    """Frames for another annotator's first scribble, best first: every object shows at
    least 40% of its largest visible area; farthest from the frames already ``used``
    first (then the better visible); frames failing the area rule come last."""
    score, areas = _frame_scores(masks, k)
    good = np.all(areas >= 0.4 * areas.max(axis=0), axis=1)
    far = np.min(np.abs(np.arange(len(masks))[:, None] - np.array(used)[None]), axis=1)
    order = np.lexsort((-score, -far, ~good))
    return [int(f) for f in order if f not in used]


def make_scribble(
    masks: np.ndarray, frame: int, rng: np.random.Generator, name: str = "",
    trim: float = 0.08, wiggle: float = 0.3,
) -> dict[str, Any]:
    """A human-like DAVIS scribble dict on ``frame`` of ``masks`` ``(T, H, W)``: one stroke
    inside every visible object, then one or two background strokes (object_id 0).
    ``trim`` (fraction cut from each end of an object's medial path) and ``wiggle``
    (sideways swing, fraction of the room inside the object) set the annotator's style."""
    n, h, w = masks.shape
    k = int(masks.max())
    labels = masks[frame]
    strokes: list[np.ndarray] = []
    ids: list[int] = []
    for obj in range(1, k + 1):
        path = _strokes.object_stroke(labels == obj, rng, trim=trim, wiggle=wiggle)
        if path is not None:
            strokes.append(path)
            ids.append(obj)
    for path in _strokes.background_strokes(labels, rng, int(rng.integers(1, 3))):
        strokes.append(path)
        ids.append(0)
    scale = np.array([max(w - 1, 1), max(h - 1, 1)], float)
    frame_strokes = []
    clock = float(rng.uniform(1000, 3000))  # ms since the session started
    for path, obj in zip(strokes, ids, strict=True):
        norm = np.clip(path / scale, 0.0, 1.0)
        dur = 4.0 * len(path) + float(rng.uniform(50, 200))
        frame_strokes.append({
            "path": [[round(float(x), 6), round(float(y), 6)] for x, y in norm],
            "object_id": int(obj),
            "start_time": round(clock, 1),
            "end_time": round(clock + dur, 1),
        })
        clock += dur + float(rng.uniform(300, 1500))
    scribbles: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    scribbles[frame] = frame_strokes
    return {"scribbles": scribbles, "sequence": name, "annotated_frame": frame}


def _has_all_objects(scribble: dict[str, Any], k: int) -> bool:
    frame = scribble["annotated_frame"]
    ids = {s["object_id"] for s in scribble["scribbles"][frame]}
    return set(range(1, k + 1)) <= ids


def make_scribbles(
    masks: np.ndarray, rng: np.random.Generator, name: str = "", count: int = 1
) -> list[dict[str, Any]]:
    """``count`` first scribbles of ``masks`` ``(T, H, W)``, as DAVIS's three annotators
    give: the first on the frame where all objects are best visible (the original
    annotator style), the others each on another frame (far from the frames already
    used, every object well visible) with its own stroke style (trim, wiggle)."""
    k = int(masks.max())
    first = _pick_scribble_frame(masks, k) if k else len(masks) // 2
    out = [make_scribble(masks, first, rng, name)]
    used = [first]
    while len(out) < count:
        trim, wiggle = float(rng.uniform(0.03, 0.25)), float(rng.uniform(0.1, 0.6))
        cands = _candidate_frames(masks, k, used) or [used[-1]]
        pick = None
        for frame in cands[:8]:  # the first frame where every object gets a stroke
            pick = make_scribble(masks, frame, rng, name, trim, wiggle)
            if _has_all_objects(pick, k):
                break
        out.append(pick)
        used.append(pick["annotated_frame"])
    return out


# --------------------------------------------------------------------------- videos
@portable_numerics()  # same pixels on every x86-64 CPU (gnnannot/data/numerics.py)
def make_video(
    seed: int,
    name: str,
    n_frames: int = 24,
    height: int = 480,
    width: int = 854,
    max_objects: int = 3,
    with_flow: bool = True,
    *,
    effects: bool = False,
    n_scribbles: int = 1,
) -> SyntheticVideo:
    """Generate one video deterministically from ``(seed, name)``, the sizes and
    ``effects`` (motion blur, shake, lighting, non-rigid/fast/thin/colour-matched objects;
    off, the default for tests and demos: the plain rigid scenes, byte-identical to
    generator version 1), with ``n_scribbles`` first scribbles on different frames."""
    _check_size(n_frames, height, width, max_objects)
    if n_scribbles < 1:
        raise ConfigError(f"synthetic scribbles per video: expected >= 1, found {n_scribbles}")
    rng = video_rng(seed, name)
    scene = _build_scene(rng, n_frames, height, width, max_objects, effects)
    frames, masks, visibility, fw, bw = _render_scene(scene, rng, with_flow)
    k = len(scene.objects)
    kinds, camo = list(scene.kinds), list(scene.camo)
    info = dict(scene.info)
    # ids contiguous 1..K: drop objects that never show up (the visibility retry makes
    # this practically impossible)
    present = [i for i in range(1, k + 1) if (masks == i).any()]
    if len(present) < k:
        lut = np.zeros(256, np.uint8)
        for new, old in enumerate(present, start=1):
            lut[old] = new
        masks = lut[masks]
        keep = [i - 1 for i in present]
        visibility = visibility[:, keep]
        kinds = [kinds[i] for i in keep]
        camo = [camo[i] for i in keep]
        info["objects"] = [info["objects"][i] for i in keep]
        k = len(present)
    scribbles = make_scribbles(masks, rng, name, n_scribbles)
    info["scribble_frames"] = [s["annotated_frame"] for s in scribbles]
    return SyntheticVideo(name, frames, masks, fw, bw, scribbles[0], k,
                          scribbles[0]["annotated_frame"], visibility, camo, kinds,
                          scribbles, info)


# --------------------------------------------------------------------------- dataset
def generate_dataset(
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    n_train: int = 8,
    n_val: int = 4,
    n_frames: int | Sequence[int] = 24,
    val_frames: int | Sequence[int] | None = None,
    height: int = 480,
    width: int = 854,
    max_objects: int = 3,
    val_scribbles: int = 1,
    effects: bool = False,
    quality: int = 90,
    flow_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> list[str]:
    """Write the synthetic dataset in DAVIS layout under ``root``; return the sequence
    names (train first, then val).

    ``n_frames`` is the length of every video, or an inclusive ``[min, max]`` range each
    video's length is drawn from; ``val_frames`` overrides it for the val split. The
    defaults make generator version 1's plain dataset (no effects, one scribble per
    video); the pipeline's dataset is set in ``params.yaml`` (``data.synthetic``).
    Writes JPEG frames, palette PNG masks, ``ImageSets/2017/{train,val}.txt``,
    ``Scribbles/<seq>/001.json`` for every video (and ``002.json``... up to
    ``val_scribbles`` for val videos: DAVIS gives 3 first scribbles per val video) and
    ``synthetic.json`` (the generation parameters and per-video contents, used by
    :func:`true_flow`). With ``flow_dir``, also the true flow of each video as
    ``<flow_dir>/<seq>.npz`` (``forward``, ``backward``).
    """
    train_range = _frame_range(n_frames, "n_frames")
    val_range = _frame_range(n_frames if val_frames is None else val_frames, "val_frames")
    _check_size(min(train_range[0], val_range[0]), height, width, max_objects)
    if n_train < 0 or n_val < 0 or n_train + n_val == 0:
        raise ConfigError(
            f"synthetic n_train/n_val: expected >= 0 and at least one video, found "
            f"{n_train}/{n_val}"
        )
    if not 1 <= quality <= 100:
        raise ConfigError(f"synthetic quality: expected 1..100, found {quality}")
    if not 1 <= val_scribbles <= 999:
        raise ConfigError(f"synthetic val_scribbles: expected 1..999, found {val_scribbles}")
    root = Path(root)
    train, val = video_names(n_train, n_val)
    videos: dict[str, dict[str, Any]] = {}
    for name in track(train + val, "synthetic videos", quiet=quiet):
        is_val = name in val
        length = video_length(seed, name, val_range if is_val else train_range)
        video = make_video(seed, name, length, height, width, max_objects,
                           with_flow=flow_dir is not None, effects=effects,
                           n_scribbles=val_scribbles if is_val else 1)
        write_sequence(root, name, video.frames, video.masks, quality=quality)
        for i, scribble in enumerate(video.scribbles, start=1):
            write_scribble(root / "Scribbles" / name / f"{i:03d}.json", scribble)
        if flow_dir is not None:
            save_flow(Path(flow_dir) / f"{name}.npz", video.flow_forward, video.flow_backward)
        videos[name] = {"n_frames": length, "n_objects": video.n_objects, **video.info}
    write_split(root, "train", train)
    write_split(root, "val", val)
    write_json(root / META_FILE, {
        "generator": "gnnannot.data.synthetic",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_frames": list(train_range),
        "val_frames": list(val_range),
        "height": int(height),
        "width": int(width),
        "max_objects": int(max_objects),
        "val_scribbles": int(val_scribbles),
        "effects": bool(effects),
        "quality": int(quality),
        "train": train,
        "val": val,
        "videos": videos,
    })
    return train + val


def save_flow(path: str | os.PathLike[str], forward: np.ndarray, backward: np.ndarray) -> None:
    """Write true flows ``(T-1, H, W, 2) float32`` (y, x) to a compressed ``.npz``."""
    with atomic_file(Path(path)) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, forward=forward, backward=backward)


def load_flow(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(forward, backward)`` written by :func:`save_flow`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: true-flow file not found")
    with np.load(path) as data:
        return data["forward"], data["backward"]


def read_meta(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The generation parameters stored in ``<root>/synthetic.json``."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise DataError(
            f"{path}: not found; true flow is only available for datasets made by "
            "gnnannot.data.synthetic.generate_dataset"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON ({exc})") from exc


def true_flow(root: str | os.PathLike[str], seq: str) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth ``(forward, backward)`` flow ``(T-1, H, W, 2) float32`` (y, x) of a
    sequence of a synthetic dataset at ``root``, regenerated from its ``synthetic.json``.

    Raises :class:`DataError` if ``seq`` is not in the dataset or the regenerated masks
    differ from the stored annotations (dataset made by another generator version).
    """
    meta = read_meta(root)
    if seq not in meta.get("train", []) + meta.get("val", []):
        raise DataError(f"{Path(root) / META_FILE}: sequence {seq!r} is not listed")
    if meta.get("version") != GENERATOR_VERSION:
        raise DataError(
            f"{Path(root) / META_FILE}: generator version {meta.get('version')}, this code "
            f"is version {GENERATOR_VERSION}; regenerate the dataset"
        )
    try:
        length = int(meta["videos"][seq]["n_frames"])
        video = make_video(meta["seed"], seq, length, meta["height"], meta["width"],
                           meta["max_objects"], with_flow=True, effects=bool(meta["effects"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{Path(root) / META_FILE}: missing or malformed key {exc}") from exc
    stored = read_annotations(root, seq)
    if stored.shape != video.masks.shape or not np.array_equal(stored, video.masks):
        raise DataError(
            f"{root}: stored annotations of {seq!r} differ from the regenerated video; "
            "the true flow would not match"
        )
    return video.flow_forward, video.flow_backward


def occlusion_from_labels(
    masks: np.ndarray, flow: np.ndarray, backward: bool = False
) -> np.ndarray:
    """Pixels whose true flow is not trustworthy, ``(T-1, H, W) bool``: the target leaves
    the frame or lands on a different visible surface (nearest pixel).

    ``masks`` ``(T, H, W)``; ``flow`` the forward (or with ``backward`` the backward) true
    flow. A helper for benchmarks that score flow on non-occluded pixels only.
    """
    n, h, w = masks.shape
    ys, xs = np.mgrid[0:h, 0:w]
    out = np.zeros((n - 1, h, w), bool)
    for t in range(n - 1):
        src, dst = (masks[t + 1], masks[t]) if backward else (masks[t], masks[t + 1])
        ty = np.rint(ys + flow[t, ..., 0]).astype(int)
        tx = np.rint(xs + flow[t, ..., 1]).astype(int)
        inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        same = np.zeros((h, w), bool)
        same[inside] = dst[ty[inside], tx[inside]] == src[inside]
        out[t] = ~same
    return out
