"""Photo textures for the synthetic dataset, taken from the images shipped inside the
scikit-image wheel (read straight from ``skimage.data.data_dir``: no pooch, no network).

All functions are deterministic given the ``numpy.random.Generator`` they receive.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from gnnannot.errors import DataError

# Colour photographs (RGB) and grey textures (colourised on use) in the skimage wheel.
COLOR_SOURCES = (
    "chelsea.png",
    "coffee.png",
    "astronaut.png",
    "rocket.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "retina.jpg",
)
GRAY_SOURCES = ("grass.png", "gravel.png", "brick.png", "moon.png", "camera.png", "cell.png")
# Fine grey textures used as high-frequency detail on top of upscaled photos.
DETAIL_SOURCES = ("grass.png", "gravel.png", "brick.png")


def _data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.data_dir)


@cache
def load_source(name: str) -> np.ndarray:
    """One shipped skimage image: ``(h, w, 3) uint8`` RGB or ``(h, w) uint8`` grey.

    Read-only (cached). ``retina.jpg`` is cropped to its bright central disc.
    """
    path = _data_dir() / name
    if not path.is_file():
        raise DataError(
            f"{path}: scikit-image sample image {name!r} not found (expected it to ship "
            "inside the scikit-image wheel; reinstall scikit-image)"
        )
    flag = cv2.IMREAD_GRAYSCALE if name in GRAY_SOURCES else cv2.IMREAD_COLOR
    img = cv2.imread(str(path), flag)
    if img is None:
        raise DataError(f"{path}: cannot decode scikit-image sample image")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if name == "retina.jpg":  # keep the textured inside of the fundus disc
        h, w = img.shape[:2]
        img = img[int(0.3 * h) : int(0.7 * h), int(0.3 * w) : int(0.7 * w)]
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img


@cache
def horse_silhouette() -> np.ndarray:
    """The horse silhouette of ``skimage.data.horse`` cropped to its box: ``(h, w) bool``,
    True on the horse."""
    path = _data_dir() / "horse.png"
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"{path}: cannot read the scikit-image horse silhouette")
    mask = img < 128  # black horse on white
    ys, xs = np.nonzero(mask)
    mask = np.ascontiguousarray(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    mask.setflags(write=False)
    return mask


def random_color(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.8)) -> np.ndarray:
    """A random RGB colour ``(3,) float32`` in [0, 255]."""
    hsv = np.array(
        [[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(0.35, 1.0) * 255]]],
        dtype=np.float32,
    )
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def colourise(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map a grey image ``(h, w) uint8`` to colour between two random colours ->
    ``(h, w, 3) uint8``."""
    c0 = random_color(rng) * rng.uniform(0.2, 0.6)
    c1 = random_color(rng)
    g = gray.astype(np.float32)[..., None] / 255.0
    return np.clip(c0 + (c1 - c0) * g, 0, 255).astype(np.uint8)


def crop_resize(
    img: np.ndarray, out_h: int, out_w: int, rng: np.random.Generator, min_frac: float = 0.5
) -> np.ndarray:
    """A random crop of ``img`` with the aspect ratio of ``(out_h, out_w)``, resized to it,
    randomly mirrored."""
    h, w = img.shape[:2]
    aspect = out_w / out_h
    ch_max = min(h, w / aspect)
    ch = ch_max * rng.uniform(min_frac, 1.0)
    cw = ch * aspect
    y0 = rng.uniform(0, h - ch)
    x0 = rng.uniform(0, w - cw)
    crop = img[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
    interp = cv2.INTER_AREA if crop.shape[0] > out_h else cv2.INTER_CUBIC
    out = cv2.resize(crop, (out_w, out_h), interpolation=interp)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def random_photo(out_h: int, out_w: int, rng: np.random.Generator, exclude: str = "") -> tuple:
    """A random colour texture ``(out_h, out_w, 3) uint8`` and the source name: a photo or a
    colourised grey texture."""
    names = [n for n in COLOR_SOURCES + GRAY_SOURCES if n != exclude]
    name = names[int(rng.integers(len(names)))]
    src = load_source(name)
    if src.ndim == 2:
        src = colourise(src, rng)
    return crop_resize(src, out_h, out_w, rng), name


def add_detail(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Modulate ``img`` ``(h, w, 3) uint8`` by a native-resolution grey texture (tiled) so
    upscaled photos keep fine, trackable detail."""
    h, w = img.shape[:2]
    name = DETAIL_SOURCES[int(rng.integers(len(DETAIL_SOURCES)))]
    tex = load_source(name).astype(np.float32)
    scale = rng.uniform(0.5, 1.0)
    tex = cv2.resize(tex, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    reps = (h // tex.shape[0] + 2, w // tex.shape[1] + 2)
    big = np.tile(tex, reps)
    y0 = int(rng.integers(tex.shape[0]))
    x0 = int(rng.integers(tex.shape[1]))
    d = big[y0 : y0 + h, x0 : x0 + w]
    d = (d - d.mean()) / (d.std() + 1e-6)
    out = img.astype(np.float32) * (1.0 + strength * np.clip(d, -2.5, 2.5))[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def background_canvas(h: int, w: int, rng: np.random.Generator) -> tuple:
    """A background picture ``(h, w, 3) uint8`` larger than the frame (for camera pans) and
    the name of its main source. Sometimes two photos split by a smooth horizon."""
    base, name = random_photo(h, w, rng)
    if rng.random() < 0.4:
        other, _ = random_photo(h, w, rng, exclude=name)
        xs = np.arange(w, dtype=np.float64)  # float64: see gnnannot/data/numerics.py
        horizon = h * rng.uniform(0.3, 0.7) + sum(
            h * rng.uniform(0.01, 0.06) * np.sin(2 * np.pi * xs / w * k + rng.uniform(0, 6.3))
            for k in (1, 2, 3)
        )
        ys = np.arange(h, dtype=np.float64)[:, None]
        soft = max(1.0, 0.004 * h)
        a = 1.0 / (1.0 + np.exp(np.clip((horizon[None, :] - ys) / soft, -50, 50)))
        # base + (other - base) * a, rounded: exact where the photos agree, so a last-bit
        # difference of exp (CPU-dependent) cannot flip a pixel (gnnannot/data/numerics.py)
        blend = base + (other.astype(np.float64) - base) * a[..., None]
        base = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        base = add_detail(base, rng, rng.uniform(0.04, 0.14))
    return base, name


def shade(tex: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply a smooth random brightness gradient (a 3-D look) to ``(h, w, 3) uint8``."""
    h, w = tex.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    g = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5)) * rng.uniform(0.2, 0.5)
    return np.clip(tex.astype(np.float32) * (1.0 + g)[..., None], 0, 255).astype(np.uint8)
