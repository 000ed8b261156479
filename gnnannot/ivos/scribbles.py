"""Rasterise DAVIS scribbles to label images, and small scribble-dict helpers.

A scribble dict is ``{"scribbles": [[stroke, ...] for each frame], "sequence": name}``
with ``stroke = {"path": [[x, y], ...], "object_id": k, ...}`` and coordinates
normalised to [0, 1]. Rasterisation follows the DAVIS interactive toolkit: a point
``(x, y)`` lands on pixel ``(int(x * (W - 1)), int(y * (H - 1)))`` (truncation), and
consecutive points are joined by Bresenham lines. Strokes are painted in order, later
strokes overwrite earlier ones. Label images use -1 for "no stroke", 0 for a background
stroke and k for object k.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from gnnannot.data.davis import validate_scribble
from gnnannot.errors import DataError

__all__ = [
    "NO_STROKE",
    "annotated_frames",
    "bresenham_path",
    "merge_scribbles",
    "rasterize_frame",
    "rasterize_scribbles",
    "scribble_frames",
    "scribble_pixels",
    "scribbles_to_volume",
]

NO_STROKE = -1


def bresenham_path(points: np.ndarray) -> np.ndarray:
    """Join consecutive integer ``(x, y)`` points ``(N, 2)`` by Bresenham lines.

    Each segment contributes all its points including both ends (so interior vertices
    appear twice, as in the DAVIS toolkit). On a segment with ``d_major`` steps along the
    major axis and ``d_minor`` along the other, step ``k`` moves
    ``floor((2 * d_minor * k + d_major) / (2 * d_major))`` along the minor axis.
    Returns ``(M, 2) int64``; fewer than 2 points are returned unchanged.
    """
    pts = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    if len(pts) < 2:
        return pts
    p0, p1 = pts[:-1], pts[1:]
    d = p1 - p0
    ad = np.abs(d)
    sign = np.where(d > 0, 1, -1)
    x_major = ad[:, 0] > ad[:, 1]
    d_maj = np.where(x_major, ad[:, 0], ad[:, 1])
    d_min = np.where(x_major, ad[:, 1], ad[:, 0])
    counts = d_maj + 1
    seg = np.repeat(np.arange(len(p0)), counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(int(counts.sum())) - starts[seg]
    dm = d_maj[seg]
    minor = np.where(dm > 0, (2 * d_min[seg] * k + dm) // np.maximum(2 * dm, 1), 0)
    xm = x_major[seg]
    sx = sign[seg, 0]
    sy = sign[seg, 1]
    x = p0[seg, 0] + np.where(xm, k * sx, minor * sx)
    y = p0[seg, 1] + np.where(xm, minor * sy, k * sy)
    return np.stack([x, y], axis=1)


def _stroke_pixels(path: Any, height: int, width: int) -> np.ndarray:
    arr = np.asarray(path, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    arr = arr.reshape(-1, 2) * np.array([width - 1, height - 1], dtype=np.float64)
    return bresenham_path(arr.astype(np.int64))


def scribble_pixels(
    strokes: Iterable[dict[str, Any]], height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels hit by a list of strokes of one frame, in painting order.

    Returns ``(xy (M, 2) int64, labels (M,) int64)``.
    """
    xy_parts, lab_parts = [], []
    for stroke in strokes:
        xy = _stroke_pixels(stroke["path"], height, width)
        xy_parts.append(xy)
        lab_parts.append(np.full(len(xy), int(stroke["object_id"]), dtype=np.int64))
    if not xy_parts:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(xy_parts), np.concatenate(lab_parts)


def rasterize_frame(strokes: Iterable[dict[str, Any]], height: int, width: int) -> np.ndarray:
    """Label image ``(H, W) int16`` of one frame's strokes (-1 = no stroke)."""
    out = np.full((height, width), NO_STROKE, dtype=np.int16)
    xy, lab = scribble_pixels(strokes, height, width)
    if len(xy):
        lin = xy[:, 1] * width + xy[:, 0]
        # keep the last write to every pixel (later strokes overwrite earlier ones)
        rev_lin = lin[::-1]
        _, first_in_rev = np.unique(rev_lin, return_index=True)
        keep = len(lin) - 1 - first_in_rev
        out.reshape(-1)[lin[keep]] = lab[keep]
    return out


def scribble_frames(scribble: dict[str, Any]) -> list[int]:
    """Frames holding at least one stroke (like the toolkit's ``annotated_frames``)."""
    return [f for f, strokes in enumerate(scribble["scribbles"]) if strokes]


def annotated_frames(scribble: dict[str, Any]) -> list[int]:
    """Frames holding at least one non-empty stroke."""
    return [
        f
        for f, strokes in enumerate(scribble["scribbles"])
        if any(len(s["path"]) > 0 for s in strokes)
    ]


def rasterize_scribbles(
    scribble: dict[str, Any], height: int, width: int, validate: bool = True
) -> dict[int, np.ndarray]:
    """Rasterise a scribble dict: ``{frame: (H, W) int16}`` for frames with strokes.

    -1 = no stroke, 0 = background stroke, k = object k. Raises :class:`DataError` on a
    malformed dict (when ``validate``) or a non-positive size.
    """
    if height < 1 or width < 1:
        raise DataError(f"rasterize_scribbles: invalid size {height}x{width}")
    if validate:
        validate_scribble(scribble, "scribble")
    return {
        f: rasterize_frame(scribble["scribbles"][f], height, width)
        for f in annotated_frames(scribble)
    }


def scribbles_to_volume(scribble: dict[str, Any], height: int, width: int) -> np.ndarray:
    """All frames as one ``(T, H, W) int16`` label volume (-1 where no stroke)."""
    n = len(scribble["scribbles"])
    vol = np.full((n, height, width), NO_STROKE, dtype=np.int16)
    for f, img in rasterize_scribbles(scribble, height, width).items():
        vol[f] = img
    return vol


def merge_scribbles(*scribbles: dict[str, Any]) -> dict[str, Any]:
    """Fuse scribble dicts of one sequence (strokes concatenated frame by frame, in the
    order given). Inputs are not modified. Raises :class:`DataError` when sequences or
    frame counts differ."""
    if not scribbles:
        raise DataError("merge_scribbles: no scribble given")
    first = scribbles[0]
    n = len(first["scribbles"])
    seq = first.get("sequence", "")
    out: dict[str, Any] = {"scribbles": [[] for _ in range(n)], "sequence": seq}
    for s in scribbles:
        if s.get("sequence", "") != seq:
            raise DataError(
                f"merge_scribbles: scribble of sequence {s.get('sequence')!r} cannot be "
                f"merged with one of {seq!r}"
            )
        if len(s["scribbles"]) != n:
            raise DataError(
                f"merge_scribbles: scribble has {len(s['scribbles'])} frames, expected {n}"
            )
        for f, strokes in enumerate(s["scribbles"]):
            out["scribbles"][f].extend(copy.deepcopy(strokes))
    return out
