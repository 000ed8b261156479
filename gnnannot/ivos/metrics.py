"""DAVIS region (J) and contour (F) measures, per frame and object.

Both follow the DAVIS-2017 definitions used by the interactive benchmark:

* J: intersection over union of the object's ground-truth and predicted pixels; a frame
  where both are empty scores 1.
* F: boundary F-measure. Each binary mask is turned into a 1-pixel-wide boundary map
  (a pixel is on the boundary when it differs from its right, lower or lower-right
  neighbour; the last row only compares with the right neighbour, the last column only
  with the lower one, the bottom-right pixel is never a boundary). A boundary pixel of
  one map is matched when a boundary pixel of the other lies within ``bound_pix`` pixels
  (a dilation by a disk of that radius), ``bound_pix = ceil(bound_th * image diagonal)``
  for ``bound_th < 1``, else ``bound_th`` pixels. Precision = matched predicted boundary
  / predicted boundary, recall = matched true boundary / true boundary, F = harmonic
  mean; an empty predicted boundary gives precision 1 (recall 0 unless the true one is
  empty too), an empty true boundary gives recall 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from skimage.morphology import disk

from gnnannot.errors import DataError

__all__ = [
    "batched_jaccard",
    "batched_f_measure",
    "boundary_map",
    "f_measure",
    "jaccard",
    "resolve_object_ids",
]


def _check_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.ndim != 3:
        raise DataError(f"ground-truth masks must have shape (T, H, W), found {gt.shape}")
    if pred.ndim != 3:
        raise DataError(f"predicted masks must have shape (T, H, W), found {pred.shape}")
    if gt.shape != pred.shape:
        raise DataError(
            f"predicted masks have shape {pred.shape}, expected the ground-truth shape "
            f"{gt.shape}"
        )
    return gt, pred


def resolve_object_ids(gt: np.ndarray, object_ids: int | Sequence[int] | None) -> list[int]:
    """Object ids to evaluate: ``1..n`` for an int ``n``, the given list, or (``None``)
    the ids present in ``gt`` (excluding 0 and the DAVIS void value 255)."""
    if object_ids is None:
        ids = np.unique(np.asarray(gt))
        return [int(i) for i in ids if 0 < i < 255]
    if isinstance(object_ids, (int, np.integer)):
        return list(range(1, int(object_ids) + 1))
    return [int(i) for i in object_ids]


def jaccard(gt_mask: np.ndarray, pred_mask: np.ndarray) -> float:
    """IoU of two boolean ``(H, W)`` masks; 1.0 when both are empty."""
    gt_mask = np.asarray(gt_mask, dtype=bool)
    pred_mask = np.asarray(pred_mask, dtype=bool)
    union = np.count_nonzero(gt_mask | pred_mask)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt_mask & pred_mask) / union


def batched_jaccard(
    gt: np.ndarray, pred: np.ndarray, object_ids: int | Sequence[int] | None = None
) -> np.ndarray:
    """J per object and frame.

    gt, pred: ``(T, H, W)`` integer object-id masks. ``object_ids``: see
    :func:`resolve_object_ids`. Returns ``(n_obj, T) float64``.
    """
    gt, pred = _check_pair(gt, pred)
    ids = resolve_object_ids(gt, object_ids)
    out = np.empty((len(ids), gt.shape[0]), dtype=np.float64)
    for i, k in enumerate(ids):
        t_mask = gt == k
        p_mask = pred == k
        inter = np.count_nonzero(t_mask & p_mask, axis=(1, 2))
        union = np.count_nonzero(t_mask | p_mask, axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return out


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-pixel-wide boundary of a binary ``(H, W)`` mask as ``(H, W) bool`` (see module
    docstring for the exact rule)."""
    seg = np.asarray(mask, dtype=bool)
    right = np.zeros_like(seg)
    down = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    down[:-1, :] = seg[1:, :]
    diag[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ right) | (seg ^ down) | (seg ^ diag)
    bmap[-1, :] = seg[-1, :] ^ right[-1, :]
    bmap[:, -1] = seg[:, -1] ^ down[:, -1]
    bmap[-1, -1] = False
    return bmap


def _bound_pix(shape: tuple[int, int], bound_th: float) -> float:
    if bound_th >= 1:
        return float(bound_th)
    return float(np.ceil(bound_th * np.hypot(shape[0], shape[1])))


def _f_from_boundaries(
    t_bound: np.ndarray, p_bound: np.ndarray, kernel: np.ndarray
) -> float:
    n_p = int(np.count_nonzero(p_bound))
    n_t = int(np.count_nonzero(t_bound))
    if n_p == 0 and n_t == 0:
        return 1.0
    if n_p == 0 or n_t == 0:
        # precision 1 / recall 0, or precision 0 / recall 1: F = 0
        return 0.0
    p_dil = cv2.dilate(p_bound.view(np.uint8), kernel).astype(bool)
    t_dil = cv2.dilate(t_bound.view(np.uint8), kernel).astype(bool)
    precision = np.count_nonzero(p_bound & t_dil) / float(n_p)
    recall = np.count_nonzero(t_bound & p_dil) / float(n_t)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def f_measure(gt_mask: np.ndarray, pred_mask: np.ndarray, bound_th: float = 0.008) -> float:
    """Boundary F-measure of two binary ``(H, W)`` masks."""
    gt_mask = np.asarray(gt_mask, dtype=bool)
    pred_mask = np.asarray(pred_mask, dtype=bool)
    if gt_mask.shape != pred_mask.shape or gt_mask.ndim != 2:
        raise DataError(
            f"f_measure needs two (H, W) masks of the same shape, found {gt_mask.shape} "
            f"and {pred_mask.shape}"
        )
    kernel = disk(_bound_pix(gt_mask.shape, bound_th)).astype(np.uint8)
    return _f_from_boundaries(boundary_map(gt_mask), boundary_map(pred_mask), kernel)


def batched_f_measure(
    gt: np.ndarray,
    pred: np.ndarray,
    object_ids: int | Sequence[int] | None = None,
    bound_th: float = 0.008,
) -> np.ndarray:
    """F per object and frame.

    gt, pred: ``(T, H, W)`` integer object-id masks. Returns ``(n_obj, T) float64``.
    """
    gt, pred = _check_pair(gt, pred)
    ids = resolve_object_ids(gt, object_ids)
    n_t = gt.shape[0]
    out = np.empty((len(ids), n_t), dtype=np.float64)
    kernel = disk(_bound_pix(gt.shape[1:], bound_th)).astype(np.uint8)
    for i, k in enumerate(ids):
        for t in range(n_t):
            t_mask = gt[t] == k
            p_mask = pred[t] == k
            if np.array_equal(t_mask, p_mask):
                out[i, t] = 1.0  # identical masks: identical boundaries (or both empty)
                continue
            out[i, t] = _f_from_boundaries(boundary_map(t_mask), boundary_map(p_mask), kernel)
    return out
