"""The 16-frame judo-like test clip of issue 17 (two articulated figures that touch and
overlap in every frame, 854x480, from the synthetic generator) and a simulated annotator
that corrects the worst frames with brush strokes, as the browser tests replay them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gnnannot.annotate.mask_edits import rasterise
from gnnannot.data.synthetic import SyntheticVideo, make_video

T, H, W = 16, 480, 854
SEED, NAME = 36, "judo"  # 2 "horse" figures (one non-rigid), in contact on all frames


def judo_video() -> SyntheticVideo:
    """The clip (deterministic)."""
    return make_video(SEED, NAME, n_frames=T, height=H, width=W, max_objects=2,
                      with_flow=False, effects=True)  # fmt: skip


def to_norm(x: float, y: float, size: tuple[int, int] = (H, W)) -> list[float]:
    """Normalised point of frame pixel (x, y), as the page sends it (the pixel's centre)."""
    h, w = size
    return [min((int(x) + 0.5) / (w - 1), 1.0), min((int(y) + 0.5) / (h - 1), 1.0)]


def write_frames(video: SyntheticVideo, folder: Path) -> Path:
    """The clip as a folder of JPEGs (quality 95), like a user's frame folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, f in enumerate(video.frames):
        cv2.imwrite(str(folder / f"{t:05d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip
    return folder


def jaccard(gt: np.ndarray, pred: np.ndarray, k: int) -> float:
    """IoU of object ``k`` in one frame (1 when both are empty)."""
    union = ((gt == k) | (pred == k)).sum()
    return float(((gt == k) & (pred == k)).sum() / union) if union else 1.0


def frame_scores(gt: np.ndarray, pred: np.ndarray, n_objects: int) -> np.ndarray:
    """``(T, K)`` J per frame and object."""
    return np.array([[jaccard(g, p, k) for k in range(1, n_objects + 1)]
                     for g, p in zip(gt, pred, strict=True)])  # fmt: skip


def error_strokes(gt: np.ndarray, pred: np.ndarray, radius: int, min_area: int = 30,
                  margin: int = 0) -> list[tuple[int, list[tuple[int, int]]]]:  # fmt: skip
    """Brush strokes that cover the wrong pixels of one frame: for each label L (0 =
    background) the pixels that should be L but are not, eroded by ``radius`` (so that a
    brush of that radius stays inside), as row runs every ``2 * radius + 1`` rows (a
    brush going back and forth over the region); components under ``min_area`` pixels
    are skipped. ``margin`` > ``radius`` keeps the strokes that far inside (rows every
    ``2 * margin + 1``), as an annotator scribbling away from the edges.
    Returns ``[(label, [(x0, y), (x1, y)]), ...]`` in frame pixels."""
    out: list[tuple[int, list[tuple[int, int]]]] = []
    e = max(radius, margin)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1))
    step = 2 * e + 1
    for label in sorted(np.unique(gt).tolist()):
        wrong = ((gt == label) & (pred != label)).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(wrong, connectivity=8)
        for c in range(1, n):
            if stats[c, cv2.CC_STAT_AREA] < min_area:
                continue
            region = cv2.erode((comp == c).astype(np.uint8), kernel)
            ys = np.flatnonzero(region.any(axis=1))
            if ys.size == 0:
                continue
            for y in range(int(ys[0]), int(ys[-1]) + 1, step):
                xs = np.flatnonzero(region[y])
                if xs.size == 0:
                    continue
                brk = np.flatnonzero(np.diff(xs) > 1)
                starts = np.concatenate([[0], brk + 1])
                ends = np.concatenate([brk, [xs.size - 1]])
                for a, b in zip(starts, ends, strict=True):
                    out.append((int(label), [(int(xs[a]), y), (int(xs[b]), y)]))
    return out


def _segment_inside(region: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Every pixel of the one-pixel line a-b lies in ``region``."""
    n = max(abs(b[0] - a[0]), abs(b[1] - a[1])) + 1
    xs = np.rint(np.linspace(a[0], b[0], n)).astype(int)
    ys = np.rint(np.linspace(a[1], b[1], n)).astype(int)
    return bool(region[ys, xs].all())


def fill_strokes(region: np.ndarray, radius: int) -> list[list[tuple[int, int]]]:
    """Polylines that a brush of ``radius`` drags over ``region`` (already eroded by
    ``radius``: a brush centred in it stays inside the original region): the row runs
    every ``2 * radius + 1`` rows, joined back and forth (boustrophedon) into one drag
    while the joining segment stays inside ``region``, else a new drag starts."""
    step = 2 * radius + 1
    ys = np.flatnonzero(region.any(axis=1))
    if ys.size == 0:
        return []
    runs: list[list[tuple[int, int, int]]] = []  # per sampled row: (y, x0, x1)
    for y in range(int(ys[0]), int(ys[-1]) + 1, step):
        xs = np.flatnonzero(region[y])
        if xs.size == 0:
            continue
        brk = np.flatnonzero(np.diff(xs) > 1)
        starts = np.concatenate([[0], brk + 1])
        ends = np.concatenate([brk, [xs.size - 1]])
        runs.append([(y, int(xs[a]), int(xs[b])) for a, b in zip(starts, ends, strict=True)])
    out: list[list[tuple[int, int]]] = []
    open_: list[list[tuple[int, int]]] = []  # drags that may continue on the next row
    for row in runs:
        nxt: list[list[tuple[int, int]]] = []
        for y, x0, x1 in row:
            for path in open_:
                end = path[-1]
                # continue from the side nearest the previous end (back and forth)
                a, b = ((x1, y), (x0, y)) if abs(end[0] - x1) < abs(end[0] - x0) else \
                    ((x0, y), (x1, y))
                if _segment_inside(region, end, a):
                    path += [a, b]
                    open_.remove(path)
                    nxt.append(path)
                    break
            else:
                path = [(x0, y), (x1, y)]
                out.append(path)
                nxt.append(path)
        open_ = nxt
    return out


def fix_strokes(gt: np.ndarray, pred: np.ndarray, radii: tuple[int, ...] = (3, 1),
                min_area: int = 10) -> list[tuple[int, int, list[tuple[int, int]]]]:  # fmt: skip
    """What an annotator paints on one frame to fix ``pred`` against ``gt``: for each
    radius in turn (a big brush first, then a fine one for the edges), the mask brush
    (label k) over the pixels that should be object k, the eraser (label 0) over those
    that should be background, each wrong region filled by :func:`fill_strokes` with the
    brush kept inside it (regions under ``min_area`` pixels skipped). Returns
    ``[(label, radius, [(x, y), ...]), ...]`` in frame pixels, in painting order."""
    out: list[tuple[int, int, list[tuple[int, int]]]] = []
    cur = np.array(pred, copy=True)
    h, w = gt.shape
    for r in radii:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        for label in sorted(np.unique(gt).tolist()):
            wrong = ((gt == label) & (cur != label)).astype(np.uint8)
            n, comp, stats, _ = cv2.connectedComponentsWithStats(wrong, connectivity=8)
            for c in range(1, n):
                if stats[c, cv2.CC_STAT_AREA] < min_area:
                    continue
                region = cv2.erode((comp == c).astype(np.uint8), kernel) > 0
                for path in fill_strokes(region, r):
                    out.append((int(label), r, path))
                    cover = rasterise([to_norm(x, y, (h, w)) for x, y in path], r, (h, w))
                    cur[cover] = label
    return out
