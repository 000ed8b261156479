"""Object silhouettes for the synthetic dataset: the scikit-image horse and random smooth
blobs (optionally with limbs). Each is returned as a float alpha sprite with a margin."""

from __future__ import annotations

import cv2
import numpy as np

from gnnannot.data._textures import horse_silhouette


def _pad_to_sprite(mask: np.ndarray, size: int) -> np.ndarray:
    """Fit a bool mask in a square ``(size, size) float32`` alpha sprite (10% margin)."""
    h, w = mask.shape
    inner = int(round(size * 0.8))
    scale = inner / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    small = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size), np.float32)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out


def horse(size: int, rng: np.random.Generator) -> np.ndarray:
    """The horse silhouette, randomly mirrored, as a ``(size, size) float32`` alpha."""
    mask = horse_silhouette()
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    return _pad_to_sprite(np.ascontiguousarray(mask), size)


def _polar_blob(rng: np.random.Generator, n: int = 256) -> np.ndarray:
    """Vertices ``(n, 2)`` (x, y) of a smooth random star-shaped blob around 0, radius ~1."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += rng.normal(0, 0.22 / k**0.8) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.35, None)
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=1)


def blob(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random smooth blob, sometimes elongated or with 1-3 limbs, as a
    ``(size, size) float32`` alpha."""
    big = 4 * size  # draw large, then area-resample for smooth edges
    canvas = np.zeros((big, big), np.uint8)
    body = _polar_blob(rng)
    body[:, 0] *= rng.uniform(1.0, 1.8)  # elongation
    ang = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    parts = [body @ rot.T]
    for _ in range(int(rng.integers(0, 4))):  # limbs: thin blobs attached to the body
        limb = _polar_blob(rng) * np.array([rng.uniform(0.5, 0.9), rng.uniform(0.15, 0.3)])
        a = rng.uniform(0, 2 * np.pi)
        lr = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        parts.append(limb @ lr.T + 0.9 * np.array([np.cos(a), np.sin(a)]))
    pts = np.concatenate(parts)
    lo, hi = pts.min(0), pts.max(0)
    scale = 0.8 * big / (hi - lo).max()
    centre = (lo + hi) / 2
    for p in parts:
        q = (p - centre) * scale + big / 2
        cv2.fillPoly(canvas, [np.round(q * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return cv2.resize(canvas.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def random_shape(size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A random silhouette ``(size, size) float32`` alpha in [0, 1] and its kind."""
    if rng.random() < 0.35:
        return horse(size, rng), "horse"
    return blob(size, rng), "blob"
