"""The 16-frame judo-like test clip of issue 17 (two articulated figures that touch and
overlap in every frame, 854x480, from the synthetic generator) and a simulated annotator
that corrects the worst frames with brush strokes, as the browser tests replay them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gnnannot.data.synthetic import SyntheticVideo, make_video

T, H, W = 16, 480, 854
SEED, NAME = 36, "judo"  # 2 "horse" figures (one non-rigid), in contact on all frames


def judo_video() -> SyntheticVideo:
    """The clip (deterministic)."""
    return make_video(SEED, NAME, n_frames=T, height=H, width=W, max_objects=2,
                      with_flow=False, effects=True)  # fmt: skip


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
