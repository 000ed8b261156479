"""DAVIS palette PNG masks: indexed images whose pixel value is the object id (0 =
background) and whose palette is the PASCAL VOC / DAVIS colour map."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from gnnannot.atomic import atomic_file
from gnnannot.errors import DataError


def davis_palette() -> np.ndarray:
    """The DAVIS/VOC colour map, ``(256, 3) uint8``: entry ``i`` is the colour of id ``i``."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[i] = (r, g, b)
    return palette


PALETTE = davis_palette()


def write_palette_png(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write ``mask`` ``(H, W)`` integer object ids (< 256) as a palette PNG, atomically."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise DataError(f"{path}: mask must be 2-D (H, W), found shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise DataError(f"{path}: object ids must be in [0, 255], found {mask.min()}..{mask.max()}")
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette(PALETTE.ravel().tolist())
    with atomic_file(path) as tmp:
        img.save(tmp, format="PNG", optimize=False)


def read_palette_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a palette PNG as ``(H, W) uint8`` object ids. Raises :class:`DataError` when the
    file is missing, unreadable or not an indexed (palette) image."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode != "P":
                raise DataError(
                    f"{path}: annotation must be a palette (mode 'P') PNG whose values are "
                    f"object ids, found mode {mode!r}"
                )
            return np.array(img, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt files
        raise DataError(f"{path}: cannot read annotation PNG ({exc})") from exc
