"""Frame-by-frame relay of a walker's labels away from the scribbled frames.

On real footage one random-walker solve over the whole video graph fades with the
distance in time from the scribbles: a walk from a node 40 frames away mixes spatially
before it reaches a seed, so the parts of the object that are far (in the graph) from
the scribbled colours lose to the background, frame after frame (``benchmarks/
davis16_ablation.py``: the legs and belly of ``cows`` erode from frame 40 on).

The relay keeps the global solve on the scribbled ("anchor") frames, where it is good,
and carries those labels outward one frame at a time, as mask propagation does: frame
``t``'s labels come from a random walker on the two-frame subgraph ``{t - 1, t}``
(``t + 1`` going backwards) in which every node of the frame already labelled is a seed
of its label, so every label - the background included - is present next to every
frame and nothing fades. The global solve's labels of frame ``t`` enter as a prior of
weight ``prior_weight``, so long-range evidence still counts. A frame between two
anchors takes the relay from the nearer one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["relay_labels"]


def _adjacency(lap: sp.csr_matrix) -> sp.csr_matrix:
    """Edge weights ``W`` of a Laplacian ``D - W``."""
    w = -lap.tocsr().copy()
    w.setdiag(0.0)
    w.eliminate_zeros()
    return w.tocsr()


def relay_labels(
    lap: sp.csr_matrix,
    frame_offsets: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    anchors: list[int] | set[int],
    seed: np.ndarray,
    solver: Callable[..., np.ndarray],
    prior_weight: float = 0.01,
    tol: float = 1e-3,
) -> np.ndarray:
    """``(N,) int64`` labels: those of ``labels`` on the ``anchors`` frames, relayed
    frame by frame to every other frame (module docstring).

    lap: ``(N, N)`` Laplacian of the video graph; frame_offsets: ``(T + 1,)`` node
    ranges of the frames; labels: the global solve's labels (kept on the anchors, a
    prior of weight ``prior_weight`` elsewhere); n_labels: K + 1; seed: ``(N,)`` hard
    scribble seeds (-1 none), kept wherever they are; solver: the random walker with
    priors (:func:`gnnannot.methods.baselines.random_walker_probs`)."""
    off = np.asarray(frame_offsets, np.int64)
    n_frames = off.size - 1
    out = np.asarray(labels, np.int64).copy()
    anchors = sorted(int(a) for a in anchors if 0 <= int(a) < n_frames)
    if not anchors:
        return out
    adj = _adjacency(lap)
    glob = np.asarray(labels, np.int64)
    anchor_arr = np.array(anchors)
    # the direction each frame is reached from: the nearer anchor (ties: the earlier one)
    dist = np.abs(np.arange(n_frames)[:, None] - anchor_arr[None, :])
    src = anchor_arr[dist.argmin(axis=1)]

    def step(t: int, prev: int) -> None:
        a, b = slice(off[prev], off[prev + 1]), slice(off[t], off[t + 1])
        idx = np.r_[np.arange(a.start, a.stop), np.arange(b.start, b.stop)]
        w = adj[idx][:, idx]
        sub = (sp.diags(np.asarray(w.sum(axis=1)).ravel()) - w).tocsr()
        n_prev = a.stop - a.start
        s = np.full(idx.size, -1, np.int64)
        s[:n_prev] = out[a]
        s[n_prev:] = seed[b]
        pr = np.zeros((idx.size, n_labels))
        pr[np.arange(n_prev, idx.size), glob[b]] = 1.0  # the global solve's labels
        lam = np.zeros(idx.size)
        lam[n_prev:] = prior_weight
        q = solver(sub, s, n_labels, tol=tol, prior=pr, prior_weight=lam)
        out[b] = q[n_prev:].argmax(axis=1)

    for k, a0 in enumerate(anchors):
        nxt = anchors[k + 1] if k + 1 < len(anchors) else n_frames
        prv = anchors[k - 1] if k > 0 else -1
        for t in range(a0 + 1, nxt):
            if src[t] != a0:
                break
            step(t, t - 1)
        for t in range(a0 - 1, prv, -1):
            if src[t] != a0:
                break
            step(t, t + 1)
    return out
