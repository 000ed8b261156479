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


# --------------------------------------------------------------------------- thin parts
THIN_KINDS = ("legs", "pole", "wheels")


def _to_big(q: np.ndarray, big: int) -> np.ndarray:
    """Normalised coordinates ``(n, 2)`` in [-1, 1] -> 1/16-px fixed point on the
    ``big`` canvas (the inner 80%)."""
    return np.round((big / 2 + q * 0.4 * big) * 16).astype(np.int32)


def _fill_blob(canvas: np.ndarray, rng: np.random.Generator, centre, rx: float, ry: float) -> None:
    pts = _polar_blob(rng) * np.array([rx, ry]) + np.asarray(centre, float)
    cv2.fillPoly(canvas, [_to_big(pts, canvas.shape[0])], 1, cv2.LINE_8, shift=4)


def _polyline(canvas: np.ndarray, pts: np.ndarray, width_big: int) -> None:
    cv2.polylines(canvas, [_to_big(np.asarray(pts, float), canvas.shape[0])], False, 1,
                  thickness=width_big, lineType=cv2.LINE_8, shift=4)


def thin_object(
    size: int, rng: np.random.Generator, line_px: float, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """An object with thin parts ``line_px`` sprite pixels wide: ``legs`` (a body on 2-6
    jointed legs), ``pole`` (a sign on a long pole, sometimes a hanging string) or
    ``wheels`` (a rider on two spoked rings). Returns the alpha ``(size, size) float32``,
    the alpha of the thin parts outside the body (same shape) and the kind."""
    if kind is None:
        kind = THIN_KINDS[int(rng.integers(len(THIN_KINDS)))]
    big = 4 * size
    body = np.zeros((big, big), np.uint8)
    thin = np.zeros((big, big), np.uint8)
    lw = max(1, int(round(4 * line_px)))
    if kind == "legs":
        _fill_blob(body, rng, (0.0, -0.45), rng.uniform(0.5, 0.7), rng.uniform(0.25, 0.4))
        n_legs = int(rng.integers(2, 7))
        for x in np.linspace(-0.45, 0.45, n_legs) + rng.normal(0, 0.05, n_legs):
            knee = (x + rng.uniform(-0.35, 0.35), rng.uniform(0.1, 0.4))
            foot = (knee[0] + rng.uniform(-0.3, 0.3), rng.uniform(0.8, 0.95))
            _polyline(thin, np.array([(x, -0.35), knee, foot]), lw)
    elif kind == "pole":
        top = (rng.uniform(-0.2, 0.2), -0.55)
        _fill_blob(body, rng, top, rng.uniform(0.35, 0.6), rng.uniform(0.25, 0.4))
        _polyline(thin, np.array([top, (rng.uniform(-0.25, 0.25), 0.95)]), lw)
        if rng.random() < 0.6:  # a string hanging from the sign
            side = rng.choice([-1.0, 1.0])
            xs = np.linspace(0, 1, 24)
            curve = np.stack([top[0] + side * (0.3 + 0.6 * xs), top[1] + 0.15 + 0.9 * xs**2
                              + 0.05 * np.sin(6 * xs + rng.uniform(0, 6))], 1)
            _polyline(thin, np.clip(curve, -0.98, 0.98), lw)
    elif kind == "wheels":
        _fill_blob(body, rng, (0.0, -0.45), rng.uniform(0.3, 0.45), rng.uniform(0.3, 0.45))
        r = rng.uniform(0.3, 0.42)
        for cx in (-0.55, 0.55):
            c = np.array([cx, 0.5])
            cv2.circle(thin, tuple(int(v) for v in _to_big(c[None], big)[0]),
                       int(round(r * 0.4 * big * 16)), 1, thickness=lw, lineType=cv2.LINE_8,
                       shift=4)
            n_spokes = int(rng.integers(3, 7))
            for a in rng.uniform(0, np.pi) + np.arange(n_spokes) * np.pi / n_spokes:
                d = r * np.array([np.cos(a), np.sin(a)])
                _polyline(thin, np.array([c - d, c + d]), lw)
            _polyline(thin, np.array([c, (0.0, -0.3)]), lw)  # frame: hub to the rider
        _polyline(thin, np.array([(-0.55, 0.5), (0.55, 0.5)]), lw)
    else:
        raise ValueError(f"thin kind must be one of {THIN_KINDS}, found {kind!r}")
    alpha = np.maximum(body, thin).astype(np.float32)
    thin_only = (thin * (1 - body)).astype(np.float32)  # the thin parts outside the body
    down = (size, size)
    return (cv2.resize(alpha, down, interpolation=cv2.INTER_AREA),
            cv2.resize(thin_only, down, interpolation=cv2.INTER_AREA), kind)
