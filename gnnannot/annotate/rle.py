"""COCO run-length encoding of binary masks, compatible with ``pycocotools.mask``.

A mask ``(H, W)`` is flattened in **column-major** (Fortran) order; ``counts`` are the
lengths of alternating runs starting with a run of zeros (0 when the first pixel is set).
The compressed string form is pycocotools' ``rleToString``: every count (from the fourth
on, index > 2, as the difference to the count two places before) is written in 5-bit groups, least
significant first, each group + 48 as one ASCII character, bit 0x20 = "more groups
follow", bit 0x10 of the last group = sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gnnannot.errors import DataError

__all__ = ["area", "bbox", "counts_from_string", "counts_to_string", "decode", "encode"]


def mask_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed run lengths of a binary ``(H, W)`` mask (column-major, zeros first)."""
    flat = np.asarray(mask, dtype=bool).T.ravel()
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def counts_to_string(counts: list[int]) -> str:
    """pycocotools' compressed string of uncompressed ``counts``."""
    out: list[str] = []
    for i, c in enumerate(counts):
        x = int(c) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            g = x & 0x1F
            x >>= 5  # arithmetic shift (Python ints keep the sign)
            more = (x != -1) if (g & 0x10) else (x != 0)
            if more:
                g |= 0x20
            out.append(chr(g + 48))
    return "".join(out)


def counts_from_string(s: str) -> list[int]:
    """Inverse of :func:`counts_to_string`. Raises DataError on a malformed string."""
    counts: list[int] = []
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise DataError(f"RLE string ends inside a count: {s[:40]!r}")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise DataError(f"RLE string has an invalid character {s[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode(mask: np.ndarray) -> dict[str, Any]:
    """``{"size": [H, W], "counts": str}`` of a binary ``(H, W)`` mask (nonzero = set), as
    ``pycocotools.mask.encode`` gives (with ``counts`` decoded to ``str``)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise DataError(f"RLE encode: mask must be 2-D (H, W), found shape {m.shape}")
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": counts_to_string(mask_counts(m))}


def decode(rle: dict[str, Any]) -> np.ndarray:
    """``(H, W) uint8`` 0/1 mask of an RLE dict (compressed ``str``/``bytes`` counts or an
    uncompressed list of counts)."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"RLE: expected {{'size': [H, W], 'counts': ...}}, found {rle!r:.80}"
        ) from exc
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    cnt = counts_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if sum(cnt) != h * w or any(c < 0 for c in cnt):
        raise DataError(f"RLE: counts cover {sum(cnt)} pixels, expected {h}x{w} = {h * w}")
    values = np.arange(len(cnt)) % 2
    flat = np.repeat(values.astype(np.uint8), cnt)
    return flat.reshape(w, h).T.copy()


def area(rle: dict[str, Any]) -> int:
    """Number of set pixels."""
    counts = rle["counts"]
    cnt = counts_from_string(counts if isinstance(counts, str) else counts.decode("ascii")) \
        if isinstance(counts, str | bytes) else list(counts)
    return int(sum(cnt[1::2]))


def bbox(mask: np.ndarray) -> list[int]:
    """COCO ``[x, y, width, height]`` of the set pixels (all 0 for an empty mask)."""
    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return [0, 0, 0, 0]
    cols = np.flatnonzero(m.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
