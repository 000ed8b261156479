"""Deterministic synthetic video dataset in DAVIS layout, with exact optical flow.

Each video is a stack of textured layers composited back to front:

* a background picture larger than the frame, seen through a moving camera (smooth pan
  and slight zoom: a sliding window);
* 1..``max_objects`` objects: silhouettes (the scikit-image horse or random smooth blobs
  with limbs) filled with photo textures from the images shipped in the scikit-image
  wheel; some objects are camouflaged (texture cut from the background picture itself).
  Objects move along smooth random walks with rotation and scale change and occlude each
  other in a fixed random depth order.
* small sensor noise (uniform -2..2 grey levels) on every frame.

Every layer ``L`` is placed in frame ``t`` by an affine map ``A_t^L`` (layer pixel ->
frame pixel), so the true flow is exact: at a frame pixel ``p`` whose visible surface is
layer ``L``, ``forward[t][p] = A_{t+1}^L((A_t^L)^{-1}(p)) - p`` and ``backward[t][q] =
A_t^L((A_{t+1}^L)^{-1}(q)) - q`` for ``q`` in frame ``t+1``. Flows are ``(H, W, 2)
float32`` in (y, x) order. The visible surface is the front-most layer whose (bilinearly
warped) alpha is >= 0.5 -- the same rule that makes the ground-truth masks.

Determinism: one ``numpy.random.Generator`` per video, seeded from ``(seed, crc32(name))``,
so a video does not depend on how many others are generated; OpenCV warps and JPEG/PNG
encoding are deterministic, so equal arguments give byte-identical files.

Scribble coordinates: ``x / (W - 1)``, ``y / (H - 1)`` of the pixel-centre coordinates
(``davisinteractive``'s ``scribbles2mask`` multiplies by ``W - 1``/``H - 1``). Every point
is kept >= 2.5 px inside its region, so rasterising with ``x * W`` instead lands in the
same region.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.atomic import write_json
from gnnannot.data import _shapes, _strokes, _textures, numerics
from gnnannot.data.davis import (
    read_annotations,
    write_scribble,
    write_sequence,
    write_split,
)
from gnnannot.data.numerics import portable_numerics
from gnnannot.errors import ConfigError, DataError
from gnnannot.progress import track

GENERATOR_VERSION = 1
META_FILE = "synthetic.json"


@dataclass
class SyntheticVideo:
    """One generated video.

    frames ``(T, H, W, 3) uint8`` RGB (before JPEG); masks ``(T, H, W) uint8`` visible
    object ids 1..n_objects (0 = background); flow_forward / flow_backward
    ``(T-1, H, W, 2) float32`` (y, x) true flow (None if not requested); scribble: the
    DAVIS scribble dict of the first interaction (strokes on ``scribble_frame`` only);
    visibility ``(T, n_objects) float32``: visible / unoccluded in-frame area per object.
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


def _invert(a: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(a)


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``a o b`` (apply ``b`` first)."""
    return a[:, :2] @ np.concatenate([b[:, :2], b[:, 2:]], axis=1) + np.concatenate(
        [np.zeros((2, 2)), a[:, 2:]], axis=1
    )


@dataclass
class _Layer:
    texture: np.ndarray  # (h, w, 3) uint8
    alpha: np.ndarray | None  # (h, w) float32 in [0, 1]; None = opaque background
    maps: np.ndarray  # (T, 2, 3) float64 layer pixel -> frame pixel
    area: float = 0.0  # alpha sum (layer pixels)


def _background(
    rng: np.random.Generator, n: int, h: int, w: int
) -> tuple[_Layer, str]:
    """The background layer and its source name: canvas ``1.4x`` the frame, camera walk."""
    ch, cw = int(round(h * 1.4)), int(round(w * 1.4))
    canvas, src = _textures.background_canvas(ch, cw, rng)
    unit = w / 854.0
    if rng.random() < 0.12:  # static camera
        cam = np.repeat(rng.uniform([0, 0], [cw - w, ch - h])[None], n, axis=0)
        zoom = np.ones(n)
    else:
        speed = rng.uniform(1.0, 7.0) * unit
        ang = rng.uniform(0, 2 * np.pi)
        cam = _walk(
            rng, n, rng.uniform([0, 0], [cw - w, ch - h]),
            speed * np.array([np.cos(ang), 0.4 * np.sin(ang)]),
            np.zeros(2), np.array([cw - w, ch - h], float), 0.25 * unit, 8.0 * unit,
        )
        cam = np.clip(cam, 0, [cw - w, ch - h])
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


def _object_layers(
    rng: np.random.Generator,
    n: int,
    h: int,
    w: int,
    k: int,
    bg: _Layer,
    bg_src: str,
) -> tuple[list[_Layer], list[str], list[bool]]:
    """Sprites (texture + alpha) of ``k`` objects, not yet placed (maps filled later)."""
    layers, kinds, camo = [], [], []
    for _ in range(k):
        kind = "horse" if rng.random() < 0.35 else "blob"
        size_px = rng.uniform(0.4, 0.65) * min(h, w) * (1.0 if k == 1 else 0.85)
        size_px *= 1.5 if kind == "horse" else 1.0  # thin legs: a larger box, similar area
        sprite = max(8, int(round(size_px * 1.3)))  # drawn at the largest scale used
        alpha = _shapes.horse(sprite, rng) if kind == "horse" else _shapes.blob(sprite, rng)
        is_camo = rng.random() < 0.3
        if is_camo:  # texture cut from the background picture itself: similar colours
            ch, cw = bg.texture.shape[:2]
            s = min(sprite, ch, cw)
            y0, x0 = int(rng.integers(0, ch - s + 1)), int(rng.integers(0, cw - s + 1))
            tex = cv2.resize(bg.texture[y0 : y0 + s, x0 : x0 + s], (sprite, sprite))
            tex = np.clip(tex.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255)
            tex = tex.astype(np.uint8)
        else:
            tex, _ = _textures.random_photo(sprite, sprite, rng, exclude=bg_src)
            if rng.random() < 0.5:
                tex = _textures.add_detail(tex, rng, rng.uniform(0.04, 0.14))
        tex = _textures.shade(tex, rng)
        layers.append(_Layer(tex, alpha, np.zeros((n, 2, 3)), float(alpha.sum())))
        kinds.append(kind)
        camo.append(bool(is_camo))
    return layers, kinds, camo


def _place_objects(
    rng: np.random.Generator, layers: list[_Layer], n: int, h: int, w: int
) -> None:
    """Fill each object's per-frame maps: smooth walks of position, angle and log-scale;
    later objects often head for an earlier one so that they cross and occlude."""
    unit = w / 854.0
    lo = np.array([0.12 * w, 0.15 * h])
    hi = np.array([0.88 * w, 0.85 * h])
    paths: list[np.ndarray] = []
    for layer in layers:
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
        pos = _walk(rng, n, start, speed * np.array([np.cos(ang), np.sin(ang)]), lo, hi,
                    0.3 * unit, 1.6 * speed)
        paths.append(pos)
        spin = _walk(rng, n, [rng.uniform(-0.5, 0.5)], [np.deg2rad(rng.uniform(-2, 2))],
                     np.full(1, -0.9), np.full(1, 0.9), np.deg2rad(0.3), np.deg2rad(3.0))[:, 0]
        logs = _walk(rng, n, [rng.uniform(-0.15, 0.15)], [rng.normal(0, 0.012)],
                     numerics.log(np.full(1, 0.75)), numerics.log(np.full(1, 1.3)),
                     0.004, 0.03)[:, 0]
        log_lo, log_hi = numerics.log(np.array([0.7, 1.3]))
        scale = numerics.exp(np.clip(logs, log_lo, log_hi)) / 1.3  # sprite drawn at 1.3
        c_src = (np.array(layer.alpha.shape[::-1], float) - 1) / 2.0
        for t in range(n):
            layer.maps[t] = _affine(scale[t], spin[t], c_src, pos[t])


# --------------------------------------------------------------------------- rendering
def _roi(m: np.ndarray, shape: tuple[int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """Frame box ``(x0, y0, x1, y1)`` covered by a ``shape`` sprite under map ``m``."""
    sh, sw = shape
    corners = np.array([[0, 0, 1], [sw - 1, 0, 1], [0, sh - 1, 1], [sw - 1, sh - 1, 1]], float)
    p = corners @ m.T
    x0 = max(int(np.floor(p[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(p[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(p[:, 0].max())) + 2, w)
    y1 = min(int(np.ceil(p[:, 1].max())) + 2, h)
    return x0, y0, x1, y1


def _warp(img: np.ndarray, m: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    mm = m.copy()
    mm[:, 2] -= (x0, y0)
    return cv2.warpAffine(img, mm, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _render_labels(
    objects: list[_Layer], t: int, h: int, w: int, factor: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Visible-object labels ``(h', w') uint8`` at ``factor`` resolution and each object's
    unoccluded in-frame area (pixels, same resolution)."""
    hh, ww = int(round(h * factor)), int(round(w * factor))
    labels = np.zeros((hh, ww), np.uint8)
    amodal = np.zeros(len(objects))
    for i, layer in enumerate(objects):
        m = layer.maps[t] * factor
        box = _roi(m, layer.alpha.shape, hh, ww)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        a = _warp(layer.alpha, m, box) >= 0.5
        amodal[i] = a.sum()
        labels[box[1] : box[3], box[0] : box[2]][a] = i + 1
    return labels, amodal


def _render_frame(
    bg: _Layer, objects: list[_Layer], t: int, h: int, w: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite frame ``(h, w, 3) float32``, labels ``(h, w) uint8`` and amodal areas."""
    img = cv2.warpAffine(bg.texture, bg.maps[t], (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    labels = np.zeros((h, w), np.uint8)
    amodal = np.zeros(len(objects))
    for i, layer in enumerate(objects):
        m = layer.maps[t]
        box = _roi(m, layer.alpha.shape, h, w)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        a = _warp(layer.alpha, m, box)
        tex = _warp(layer.texture, m, box).astype(np.float32)
        x0, y0, x1, y1 = box
        sub = img[y0:y1, x0:x1]
        sub += (tex - sub) * a[..., None]
        vis = a >= 0.5
        amodal[i] = vis.sum()
        labels[y0:y1, x0:x1][vis] = i + 1
    return img, labels, amodal


def _flow(
    layers: list[_Layer], labels: np.ndarray, t_from: int, t_to: int, grid: tuple | None = None
) -> np.ndarray:
    """True flow ``(H, W, 2) float32`` (y, x) of frame ``t_from`` pixels into ``t_to``;
    ``layers[0]`` is the background, ``labels`` the visible layer index at ``t_from``."""
    h, w = labels.shape
    if grid is None:
        grid = np.mgrid[0:h, 0:w].astype(np.float32)
    ys, xs = grid
    # per-layer affine displacement d(p) = A_to(A_from^-1(p)) - p, gathered by label
    coef = np.zeros((len(layers), 6), np.float64)
    for idx, layer in enumerate(layers):
        d = _compose(layer.maps[t_to], _invert(layer.maps[t_from]))
        d[0, 0] -= 1.0
        d[1, 1] -= 1.0
        coef[idx] = d.ravel()
    out = np.empty((h, w, 2), np.float32)
    if len(layers) == 1 or not labels.any():
        c = coef[0].astype(np.float32)
        out[..., 1] = c[0] * xs + c[1] * ys + c[2]
        out[..., 0] = c[3] * xs + c[4] * ys + c[5]
        return out
    c = coef.astype(np.float32)[labels]  # (H, W, 6)
    out[..., 1] = c[..., 0] * xs + c[..., 1] * ys + c[..., 2]
    out[..., 0] = c[..., 3] * xs + c[..., 4] * ys + c[..., 5]
    return out


# --------------------------------------------------------------------------- scribbles
def _pick_scribble_frame(masks: np.ndarray, k: int) -> int:
    """The frame where all objects are best visible (sum of log visible areas), ties to
    the middle."""
    n = len(masks)
    areas = np.stack([(masks == i).sum(axis=(1, 2)) for i in range(1, k + 1)], axis=1)
    score = numerics.log(areas + 1.0).sum(axis=1) - 1e-3 * np.abs(np.arange(n) - (n - 1) / 2)
    return int(np.argmax(score))


def make_scribble(
    masks: np.ndarray, frame: int, rng: np.random.Generator, name: str = ""
) -> dict[str, Any]:
    """A human-like DAVIS scribble dict on ``frame`` of ``masks`` ``(T, H, W)``: one stroke
    inside every visible object, then one or two background strokes (object_id 0)."""
    n, h, w = masks.shape
    k = int(masks.max())
    labels = masks[frame]
    strokes: list[np.ndarray] = []
    ids: list[int] = []
    for obj in range(1, k + 1):
        path = _strokes.object_stroke(labels == obj, rng)
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


# --------------------------------------------------------------------------- videos
def _check_size(n_frames: int, height: int, width: int, max_objects: int) -> None:
    if n_frames < 2:
        raise ConfigError(f"synthetic n_frames: expected >= 2, found {n_frames}")
    if height < 32 or width < 32:
        raise ConfigError(f"synthetic height/width: expected >= 32, found {height}x{width}")
    if not 1 <= max_objects <= 20:
        raise ConfigError(f"synthetic max_objects: expected 1..20, found {max_objects}")


@dataclass
class _Scene:
    """Layers of one video: ``bg`` then ``objects`` back to front (object id = index + 1)."""

    bg: _Layer
    objects: list[_Layer]
    n: int
    h: int
    w: int
    kinds: list[str] = field(default_factory=list)
    camo: list[bool] = field(default_factory=list)


def _build_scene(
    rng: np.random.Generator, n: int, h: int, w: int, max_objects: int
) -> _Scene:
    """Draw textures, shapes and motions; retry object motions until every object keeps
    >= 30% of its area visible (in frame, not occluded) in every frame (25 tries max,
    then the best try)."""
    k = int(rng.integers(1, max_objects + 1))
    bg, bg_src = _background(rng, n, h, w)
    objects, kinds, camo = _object_layers(rng, n, h, w, k, bg, bg_src)
    order = rng.permutation(k)  # random depth order (back to front)
    objects = [objects[i] for i in order]
    kinds = [kinds[i] for i in order]
    camo = [camo[i] for i in order]
    factor = min(1.0, 160.0 / min(h, w))  # the check runs at low resolution
    best, best_score = None, -1.0
    for _attempt in range(25):
        _place_objects(rng, objects, n, h, w)
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
    return _Scene(bg, objects, n, h, w, kinds, camo)


def _render_scene(
    scene: _Scene, rng: np.random.Generator | None, with_flow: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Frames ``(T, H, W, 3) uint8`` (noise from ``rng``; none if None), masks
    ``(T, H, W) uint8`` (visible object id), visibility ``(T, K) float32`` and the true
    forward/backward flows ``(T-1, H, W, 2) float32`` (or None)."""
    n, h, w, k = scene.n, scene.h, scene.w, len(scene.objects)
    frames = np.empty((n, h, w, 3), np.uint8)
    masks = np.empty((n, h, w), np.uint8)
    visibility = np.zeros((n, k), np.float32)
    for t in range(n):
        img, labels, amodal = _render_frame(scene.bg, scene.objects, t, h, w)
        if rng is not None:  # sensor noise, uniform on -2..2 (std ~1.4 grey levels)
            img = np.rint(img) + rng.integers(-2, 3, img.shape, dtype=np.int8)
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        masks[t] = labels
        counts = np.bincount(labels.ravel(), minlength=k + 1)[1:]
        visibility[t] = counts / np.maximum(amodal, 1.0)
    fw = bw = None
    if with_flow:
        layers = [scene.bg, *scene.objects]
        grid = np.mgrid[0:h, 0:w].astype(np.float32)
        fw = np.empty((n - 1, h, w, 2), np.float32)
        bw = np.empty((n - 1, h, w, 2), np.float32)
        for t in range(n - 1):
            fw[t] = _flow(layers, masks[t], t, t + 1, grid)
            bw[t] = _flow(layers, masks[t + 1], t + 1, t, grid)
    return frames, masks, visibility, fw, bw


@portable_numerics()  # same pixels on every x86-64 CPU (gnnannot/data/numerics.py)
def make_video(
    seed: int,
    name: str,
    n_frames: int = 24,
    height: int = 480,
    width: int = 854,
    max_objects: int = 3,
    with_flow: bool = True,
) -> SyntheticVideo:
    """Generate one video deterministically from ``(seed, name)`` and the sizes."""
    _check_size(n_frames, height, width, max_objects)
    rng = video_rng(seed, name)
    scene = _build_scene(rng, n_frames, height, width, max_objects)
    frames, masks, visibility, fw, bw = _render_scene(scene, rng, with_flow)
    k = len(scene.objects)
    kinds, camo = list(scene.kinds), list(scene.camo)
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
        k = len(present)
    frame = _pick_scribble_frame(masks, k)
    scribble = make_scribble(masks, frame, rng, name)
    return SyntheticVideo(name, frames, masks, fw, bw, scribble, k, frame, visibility,
                          camo, kinds)


# --------------------------------------------------------------------------- dataset
def generate_dataset(
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    n_train: int = 8,
    n_val: int = 4,
    n_frames: int = 24,
    height: int = 480,
    width: int = 854,
    max_objects: int = 3,
    quality: int = 90,
    flow_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> list[str]:
    """Write the synthetic dataset in DAVIS layout under ``root``; return the sequence
    names (train first, then val).

    Writes JPEG frames, palette PNG masks, ``ImageSets/2017/{train,val}.txt``,
    ``Scribbles/<seq>/001.json`` for every video and ``synthetic.json`` (the generation
    parameters, used by :func:`true_flow`). With ``flow_dir``, also the true flow of each
    video as ``<flow_dir>/<seq>.npz`` (``forward``, ``backward``).
    """
    _check_size(n_frames, height, width, max_objects)
    if n_train < 0 or n_val < 0 or n_train + n_val == 0:
        raise ConfigError(
            f"synthetic n_train/n_val: expected >= 0 and at least one video, found "
            f"{n_train}/{n_val}"
        )
    if not 1 <= quality <= 100:
        raise ConfigError(f"synthetic quality: expected 1..100, found {quality}")
    root = Path(root)
    train, val = video_names(n_train, n_val)
    names = train + val
    for name in track(names, "synthetic videos", quiet=quiet):
        video = make_video(seed, name, n_frames, height, width, max_objects,
                           with_flow=flow_dir is not None)
        write_sequence(root, name, video.frames, video.masks, quality=quality)
        write_scribble(root / "Scribbles" / name / "001.json", video.scribble)
        if flow_dir is not None:
            save_flow(Path(flow_dir) / f"{name}.npz", video.flow_forward, video.flow_backward)
    write_split(root, "train", train)
    write_split(root, "val", val)
    write_json(root / META_FILE, {
        "generator": "gnnannot.data.synthetic",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_frames": int(n_frames),
        "height": int(height),
        "width": int(width),
        "max_objects": int(max_objects),
        "quality": int(quality),
        "train": train,
        "val": val,
    })
    return names


def save_flow(path: str | os.PathLike[str], forward: np.ndarray, backward: np.ndarray) -> None:
    """Write true flows ``(T-1, H, W, 2) float32`` (y, x) to a compressed ``.npz``."""
    from gnnannot.atomic import atomic_file

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
    video = make_video(meta["seed"], seq, meta["n_frames"], meta["height"], meta["width"],
                       meta["max_objects"], with_flow=True)
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
