"""Rendering and exact optical flow of a layered synthetic scene.

A scene is a background layer and object layers back to front. Layer ``L`` is placed in
frame ``t`` by a 2x3 affine map ``A_t`` (layer pixel -> frame pixel) and, for non-rigid
objects, a deformation ``S_t(v) = v + E_t(v)`` of its sprite (:class:`~._effects.Deform`):
frame pixel ``p`` shows the texel ``u = S_t(A_t^{-1} p)``.

What is exact (the definitions the tests check):

* masks: object ``i`` covers ``p`` in frame ``t`` where its alpha at ``u`` (bilinear) is
  >= 0.5; the front-most such object wins (0 = background).
* true flow of frame ``t`` into ``t+1`` at ``p`` on visible surface ``L``: the frame
  position of the same texel at ``t+1``, ``A_{t+1}(S_{t+1}^{-1}(S_t(A_t^{-1} p))) - p``
  (``S^{-1}`` by fixed-point iteration, residual < 1e-4 px); backward likewise. Flows are
  ``(H, W, 2) float32`` in (y, x) order.
* motion blur: frame ``t``'s image is the mean of the composites at instants spread over
  the exposure ``[t - e/2, t + e/2]`` (maps interpolated linearly between frames, the
  deformation evaluated at the instant); masks and flow are those of the instant ``t``
  itself (the middle of the exposure), like DAVIS's annotations of blurred frames.
* camera shake is part of every layer's maps, so the true flow includes it; lighting
  (a gain field per frame) changes pixel values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from gnnannot.data._effects import Deform, Lighting, exposure_times, map_at


@dataclass
class Layer:
    """One layer: ``texture`` ``(h, w, 3) uint8``; ``alpha`` ``(h, w) float32`` in [0, 1]
    (None = opaque background); ``maps`` ``(T, 2, 3) float64`` layer pixel -> frame pixel;
    ``area`` the alpha sum; ``deform`` the non-rigid deformation (None = rigid); ``thin``
    ``(h, w) float32`` alpha of the thin parts alone (None = no thin parts)."""

    texture: np.ndarray
    alpha: np.ndarray | None
    maps: np.ndarray
    area: float = 0.0
    deform: Deform | None = None
    thin: np.ndarray | None = None


@dataclass
class Scene:
    """Layers of one video: ``bg`` then ``objects`` back to front (object id = index + 1),
    with the per-video photometric effects (``exposure`` in frame intervals, 0 = no blur;
    ``lighting`` None = constant)."""

    bg: Layer
    objects: list[Layer]
    n: int
    h: int
    w: int
    kinds: list[str] = field(default_factory=list)
    camo: list[bool] = field(default_factory=list)
    exposure: float = 0.0
    lighting: Lighting | None = None
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- sampling
def roi(m: np.ndarray, shape: tuple[int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """Frame box ``(x0, y0, x1, y1)`` covered by a ``shape`` sprite under map ``m``."""
    sh, sw = shape
    corners = np.array([[0, 0, 1], [sw - 1, 0, 1], [0, sh - 1, 1], [sw - 1, sh - 1, 1]], float)
    p = corners @ m.T
    x0 = max(int(np.floor(p[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(p[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(p[:, 0].max())) + 2, w)
    y1 = min(int(np.ceil(p[:, 1].max())) + 2, h)
    return x0, y0, x1, y1


def sprite_coords(
    layer: Layer, t: float, box: tuple[int, int, int, int], factor: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Texel coordinates ``(ux, uy)`` ``(y1-y0, x1-x0) float64`` seen by the frame pixels
    of ``box`` at instant ``t`` (frame scaled by ``factor``)."""
    x0, y0, x1, y1 = box
    inv = cv2.invertAffineTransform(map_at(layer.maps, t) * factor)
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    vx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    vy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    if layer.deform is None:
        return vx, vy
    return layer.deform.forward(vx, vy, t)


def sample(
    img: np.ndarray, layer: Layer, t: float, box: tuple[int, int, int, int], factor: float = 1.0
) -> np.ndarray:
    """``img`` (a sprite of ``layer``) as seen in ``box`` at instant ``t`` (bilinear, 0
    outside the sprite)."""
    x0, y0, x1, y1 = box
    if layer.deform is None:  # rigid: OpenCV's affine warp
        mm = map_at(layer.maps, t) * factor
        mm[:, 2] -= (x0, y0)
        return cv2.warpAffine(img, mm, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ux, uy = sprite_coords(layer, t, box, factor)
    return cv2.remap(img, ux.astype(np.float32), uy.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def render_labels(
    objects: list[Layer], t: float, h: int, w: int, factor: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Visible-object labels ``(h', w') uint8`` at ``factor`` resolution and each object's
    unoccluded in-frame area (pixels, same resolution)."""
    hh, ww = int(round(h * factor)), int(round(w * factor))
    labels = np.zeros((hh, ww), np.uint8)
    amodal = np.zeros(len(objects))
    for i, layer in enumerate(objects):
        box = roi(map_at(layer.maps, t) * factor, layer.alpha.shape, hh, ww)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        a = sample(layer.alpha, layer, t, box, factor) >= 0.5
        amodal[i] = a.sum()
        labels[box[1] : box[3], box[0] : box[2]][a] = i + 1
    return labels, amodal


def composite(bg: Layer, objects: list[Layer], t: float, h: int, w: int) -> np.ndarray:
    """The composite image ``(h, w, 3) float32`` at instant ``t`` (no lighting, no noise)."""
    img = cv2.warpAffine(bg.texture, map_at(bg.maps, t), (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    for layer in objects:
        box = roi(map_at(layer.maps, t), layer.alpha.shape, h, w)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        a = sample(layer.alpha, layer, t, box)
        tex = sample(layer.texture, layer, t, box).astype(np.float32)
        x0, y0, x1, y1 = box
        sub = img[y0:y1, x0:x1]
        sub += (tex - sub) * a[..., None]
    return img


def n_subframes(scene: Scene, t: int, step_px: float = 1.0, cap: int = 16) -> int:
    """Sub-frames needed so that no layer point moves more than ``step_px`` between two
    of them during frame ``t``'s exposure (at most ``cap``; 1 without blur)."""
    e = scene.exposure
    if e <= 0:
        return 1
    most = 0.0
    for layer in [scene.bg, *scene.objects]:
        sh, sw = (layer.texture.shape[:2] if layer.alpha is None else layer.alpha.shape)
        corners = np.array([[0, 0, 1], [sw - 1, 0, 1], [0, sh - 1, 1], [sw - 1, sh - 1, 1]],
                           float)
        a, b = map_at(layer.maps, t - e / 2), map_at(layer.maps, t + e / 2)
        move = np.abs(corners @ (b - a).T).max()
        if layer.deform is not None:
            scale = np.sqrt(abs(np.linalg.det(a[:, :2])))
            move += scale * float(np.sum(layer.deform.amp * np.abs(layer.deform.omega))) * e
        most = max(most, float(move))
    return int(np.clip(np.ceil(most / step_px), 1, cap))


def render_frame(
    scene: Scene, t: int, blur: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``t``: image ``(h, w, 3) float32`` (motion blur and lighting, no noise),
    labels ``(h, w) uint8`` and unoccluded areas ``(K,)`` of the instant ``t``."""
    h, w = scene.h, scene.w
    labels, amodal = render_labels(scene.objects, t, h, w)
    times = exposure_times(t, scene.exposure, n_subframes(scene, t)) if blur else [float(t)]
    img = composite(scene.bg, scene.objects, times[0], h, w)
    for tau in times[1:]:
        img += composite(scene.bg, scene.objects, tau, h, w)
    if len(times) > 1:
        img *= np.float32(1.0 / len(times))
    if scene.lighting is not None:
        img *= scene.lighting.field(t, h, w)
    return img, labels, amodal


def render_scene(
    scene: Scene, rng: np.random.Generator | None, with_flow: bool, blur: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Frames ``(T, H, W, 3) uint8`` (noise from ``rng``; none if None), masks
    ``(T, H, W) uint8`` (visible object id), visibility ``(T, K) float32`` and the true
    forward/backward flows ``(T-1, H, W, 2) float32`` (or None)."""
    n, h, w, k = scene.n, scene.h, scene.w, len(scene.objects)
    frames = np.empty((n, h, w, 3), np.uint8)
    masks = np.empty((n, h, w), np.uint8)
    visibility = np.zeros((n, k), np.float32)
    for t in range(n):
        img, labels, amodal = render_frame(scene, t, blur)
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
            fw[t] = flow(layers, masks[t], t, t + 1, grid)
            bw[t] = flow(layers, masks[t + 1], t + 1, t, grid)
    return frames, masks, visibility, fw, bw


# --------------------------------------------------------------------------- flow
def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``a o b`` (apply ``b`` first)."""
    return a[:, :2] @ b + np.concatenate([np.zeros((2, 2)), a[:, 2:]], axis=1)


def _deformed_flow(layer: Layer, t_from: int, t_to: int, ys: np.ndarray, xs: np.ndarray):
    """Flow ``(dy, dx)`` float64 of frame points ``(ys, xs)`` on a deformed layer."""
    inv = cv2.invertAffineTransform(layer.maps[t_from])
    vx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    vy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    ux, uy = layer.deform.forward(vx, vy, t_from)
    wx, wy = layer.deform.inverse(ux, uy, t_to)
    m = layer.maps[t_to]
    qx = m[0, 0] * wx + m[0, 1] * wy + m[0, 2]
    qy = m[1, 0] * wx + m[1, 1] * wy + m[1, 2]
    return qy - ys, qx - xs


def flow(
    layers: list[Layer], labels: np.ndarray, t_from: int, t_to: int, grid: tuple | None = None
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
        d = _compose(layer.maps[t_to], cv2.invertAffineTransform(layer.maps[t_from]))
        d[0, 0] -= 1.0
        d[1, 1] -= 1.0
        coef[idx] = d.ravel()
    out = np.empty((h, w, 2), np.float32)
    if len(layers) == 1 or not labels.any():
        c = coef[0].astype(np.float32)
        out[..., 1] = c[0] * xs + c[1] * ys + c[2]
        out[..., 0] = c[3] * xs + c[4] * ys + c[5]
    else:
        c = coef.astype(np.float32)[labels]  # (H, W, 6)
        out[..., 1] = c[..., 0] * xs + c[..., 1] * ys + c[..., 2]
        out[..., 0] = c[..., 3] * xs + c[..., 4] * ys + c[..., 5]
    for idx, layer in enumerate(layers):
        if layer.deform is None or idx == 0:
            continue
        py, px = np.nonzero(labels == idx)
        if len(py):
            dy, dx = _deformed_flow(layer, t_from, t_to, py.astype(np.float64),
                                    px.astype(np.float64))
            out[py, px, 0] = dy
            out[py, px, 1] = dx
    return out
