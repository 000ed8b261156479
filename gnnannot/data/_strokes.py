"""Human-like scribble strokes for the synthetic dataset.

Object strokes follow the longest path of the skeleton of the (largest part of the)
object's visible mask, trimmed, smoothed and jittered, kept at least ``margin`` pixels
from the object's boundary. Background strokes are smooth random curves kept ``margin``
pixels away from every object and from the frame border. Paths are ``(n, 2) float64``
pixel coordinates (x, y) with pixel centres at integers.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from skimage.morphology import skeletonize


def _resample(path: np.ndarray, n: int) -> np.ndarray:
    """Resample a polyline ``(m, 2)`` to ``n`` points equally spaced along its length."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(path[:1], n, axis=0)
    t = np.linspace(0, s[-1], n)
    return np.stack([np.interp(t, s, path[:, 0]), np.interp(t, s, path[:, 1])], axis=1)


def _length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 0.0


def _n_points(length: float) -> int:
    """Points per stroke, like a mouse sampled every ~0.4 px: several hundred for DAVIS-size
    strokes."""
    return int(np.clip(round(length * 2.5), 100, 1000))


def _longest_run(ok: np.ndarray) -> slice:
    """The longest run of True in a 1-D bool array (empty slice if none)."""
    best, start, cur = (0, 0), None, 0
    for i, v in enumerate(np.append(ok, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    del cur
    return slice(*best)


def _inside(path: np.ndarray, dist: np.ndarray, margin: float) -> np.ndarray:
    """Which points of ``path`` lie where ``dist`` >= ``margin`` (nearest pixel)."""
    h, w = dist.shape
    xi = np.clip(np.round(path[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(path[:, 1]).astype(int), 0, h - 1)
    inb = (path[:, 0] >= 0) & (path[:, 0] <= w - 1) & (path[:, 1] >= 0) & (path[:, 1] <= h - 1)
    return inb & (dist[yi, xi] >= margin)


def _skeleton_longest_path(skel: np.ndarray) -> np.ndarray:
    """Pixels ``(m, 2)`` (x, y) of the longest shortest path in an 8-connected skeleton
    (double sweep: farthest node from any node, then farthest from that)."""
    ys, xs = np.nonzero(skel)
    n = len(ys)
    if n == 0:
        return np.zeros((0, 2))
    if n == 1:
        return np.array([[xs[0], ys[0]]], float)
    index = -np.ones(skel.shape, np.int64)
    index[ys, xs] = np.arange(n)
    rows, cols, wts = [], [], []
    h, w = skel.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        y2, x2 = ys + dy, xs + dx
        ok = (y2 >= 0) & (y2 < h) & (x2 >= 0) & (x2 < w)
        j = np.full(n, -1)
        j[ok] = index[y2[ok], x2[ok]]
        m = j >= 0
        rows.append(np.arange(n)[m])
        cols.append(j[m])
        wts.append(np.full(m.sum(), np.hypot(dy, dx)))
    r, c, wt = np.concatenate(rows), np.concatenate(cols), np.concatenate(wts)
    g = coo_matrix((wt, (r, c)), shape=(n, n)).tocsr()
    d0 = dijkstra(g, directed=False, indices=0)
    a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
    d1, pred = dijkstra(g, directed=False, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(d1), d1, -1)))
    order = [b]
    while order[-1] != a:
        order.append(int(pred[order[-1]]))
    order = np.array(order[::-1])
    return np.stack([xs[order], ys[order]], axis=1).astype(float)


def _smooth_noise(n: int, rng: np.random.Generator, corr: float) -> np.ndarray:
    """Low-pass Gaussian noise of length ``n`` with unit-ish amplitude."""
    x = ndimage.gaussian_filter1d(rng.normal(size=n + 1), max(corr, 0.5), mode="reflect")[:n]
    return x / (np.abs(x).max() + 1e-9)


def object_stroke(
    mask: np.ndarray, rng: np.random.Generator, margin: float = 2.5, trim: float = 0.08,
    wiggle: float = 0.3,
) -> np.ndarray | None:
    """A smooth stroke inside ``mask`` ``(H, W) bool`` (``(n, 2)`` x, y pixel coords), every
    point at least ``margin`` px from the boundary (less, down to 1.5 px, for thin objects);
    None if the mask is too thin/small. ``trim``: fraction of the medial path cut at each
    end; ``wiggle``: sideways swing as a fraction of the room left inside the object."""
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    pad = 3
    y0, x0 = max(ys.min() - pad, 0), max(xs.min() - pad, 0)
    y1, x1 = min(ys.max() + pad + 1, mask.shape[0]), min(xs.max() + pad + 1, mask.shape[1])
    m = mask[y0:y1, x0:x1]
    lab, n = ndimage.label(m)
    if n > 1:
        sizes = ndimage.sum_labels(m, lab, index=np.arange(1, n + 1))
        m = lab == (1 + int(np.argmax(sizes)))
    # distance to the outside of the object (frame borders count as outside)
    dist = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    dmax = float(dist.max())
    margin = min(margin, max(1.5, dmax - 1.0))  # thin objects: hug the medial axis
    if dmax < margin + 0.5:
        return None
    # skeleton of a smoothed, slightly eroded mask: few spurs, a medial path
    core = dist >= max(margin + 0.5, 0.25 * dmax)
    core = ndimage.binary_opening(core, iterations=1) if core.sum() > 50 else core
    if not core.any():
        core = dist >= margin + 0.5
    lab, n = ndimage.label(core)
    if n > 1:
        sizes = ndimage.sum_labels(core, lab, index=np.arange(1, n + 1))
        core = lab == (1 + int(np.argmax(sizes)))
    path = _skeleton_longest_path(skeletonize(core))
    if len(path) >= 2:
        # humans rarely reach the tips: trim at each end
        k = int(trim * len(path))
        path = path[k : len(path) - k] if len(path) - 2 * k >= 2 else path
    if _length(path) < 2.0:  # tiny/round object: a short wiggle around the deepest point
        cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
        r = max(1.0, 0.5 * (dmax - margin))
        a = rng.uniform(0, np.pi)
        path = np.array([[cx - r * np.cos(a), cy - r * np.sin(a)],
                         [cx + r * np.cos(a), cy + r * np.sin(a)]])
    length = _length(path)
    npts = _n_points(length)
    path = _resample(path, max(npts, 8))
    path = np.stack(
        [ndimage.gaussian_filter1d(path[:, i], npts * 0.04 + 1, mode="nearest") for i in (0, 1)],
        axis=1,
    )
    # jitter across the path, bounded by the local room left inside the object
    tang = np.gradient(path, axis=0)
    norm = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    norm /= np.linalg.norm(norm, axis=1, keepdims=True) + 1e-9
    room = _sample(dist, path) - margin
    amp = np.clip(wiggle * room, 0, wiggle / 10 * length + 1.0)
    path = path + norm * (amp * _smooth_noise(len(path), rng, len(path) / 6))[:, None]
    path = path + rng.normal(0, 0.15, path.shape)  # hand tremor
    keep = _longest_run(_inside(path, dist, margin))
    path = path[keep]
    if len(path) < 2:
        return None
    return path + np.array([x0, y0], float)


def _sample(img: np.ndarray, path: np.ndarray) -> np.ndarray:
    h, w = img.shape
    xi = np.clip(np.round(path[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(path[:, 1]).astype(int), 0, h - 1)
    return img[yi, xi]


def background_strokes(
    labels: np.ndarray, rng: np.random.Generator, n_strokes: int, margin: float | None = None
) -> list[np.ndarray]:
    """Up to ``n_strokes`` smooth background curves (``(n, 2)`` x, y pixel coords) in
    ``labels == 0`` of ``labels`` ``(H, W)``, away from objects and the frame border."""
    h, w = labels.shape
    if margin is None:
        margin = max(3.0, 0.02 * min(h, w))
    dist = ndimage.distance_transform_edt(np.pad(labels == 0, 1))[1:-1, 1:-1]
    ys, xs = np.nonzero(dist >= margin + 1)
    if len(ys) == 0:
        return []
    weights = dist[ys, xs] ** 2
    weights /= weights.sum()
    strokes: list[np.ndarray] = []
    target = rng.uniform(0.25, 0.6) * min(h, w)
    for _ in range(n_strokes):
        best: np.ndarray | None = None
        for _ in range(12):
            i = int(rng.choice(len(ys), p=weights))
            start = np.array([xs[i], ys[i]], float)
            heading = rng.uniform(0, 2 * np.pi)
            curv = rng.normal(0, 1.5 / target, 2)
            halves = []
            for sgn in (1.0, -1.0):
                nsteps = int(target / 2)
                turn = heading + np.pi * (sgn < 0) + np.cumsum(
                    curv[int(sgn < 0)] * sgn + rng.normal(0, 0.3 / target, nsteps)
                )
                pts = start + np.cumsum(np.stack([np.cos(turn), np.sin(turn)], 1), axis=0)
                ok = _inside(pts, dist, margin)
                stop = int(np.argmin(ok)) if not ok.all() else nsteps
                halves.append(pts[:stop])
            cand = np.concatenate([halves[1][::-1], start[None], halves[0]])
            if best is None or _length(cand) > _length(best):
                best = cand
        if best is not None and _length(best) >= 0.05 * min(h, w):
            strokes.append(_resample(best, _n_points(_length(best))))
            # keep later strokes away from this one
            xi = np.round(strokes[-1][:, 0]).astype(int)
            yi = np.round(strokes[-1][:, 1]).astype(int)
            used = np.zeros_like(dist, bool)
            used[yi, xi] = True
            far = ndimage.distance_transform_edt(~used) > 0.15 * min(h, w)
            sel = far[ys, xs]
            if not sel.any():
                break
            ys, xs = ys[sel], xs[sel]
            weights = dist[ys, xs] ** 2
            weights /= weights.sum()
    return strokes
