"""A tiny DAVIS-layout dataset for store tests: blocky textures panning 2 px per frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnnannot.data import davis


def write_tiny_dataset(root: Path, names: list[str], h: int = 48, w: int = 64,
                       t: int | list[int] = 3) -> None:
    """Videos ``names`` (``t`` frames of ``h x w``, or ``t[i]`` frames for video i, one box
    object) under ``root``; the first is the train split, the rest val."""
    lengths = [t] * len(names) if isinstance(t, int) else list(t)
    for i, (name, n) in enumerate(zip(names, lengths, strict=True)):
        rng = np.random.default_rng(i)
        img = np.kron(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8),
                      np.ones((8, 8, 1), np.uint8))  # fmt: skip
        frames = np.stack([np.roll(img, 2 * k, axis=1) for k in range(n)])
        masks = np.zeros((n, h, w), np.uint8)
        masks[:, 8:24, 16:40] = 1
        davis.write_sequence(root, name, frames, masks)
    davis.write_split(root, "train", names[:1])
    davis.write_split(root, "val", names[1:])
