"""The frame-by-frame relay of walker labels (gnnannot/methods/relay.py) and the random
walker's annotated-frame options (``relay``, ``mask_weight``) on small synthetic graphs."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from toy_graphs import grid_graph

from gnnannot.interaction.seeds import SeedState
from gnnannot.methods.baselines import RandomWalker, random_walker_probs, seeded_walker_probs
from gnnannot.methods.relay import relay_labels


def _chain_video(frames: int, per: int, shift: int, temporal: float = 10.0,
                 spatial: float = 0.01) -> tuple[sp.csr_matrix, np.ndarray]:
    """Frames of ``per`` nodes on a path (weak spatial edges); node ``i`` of frame ``t``
    is linked to node ``i + shift`` of frame ``t + 1`` (the motion) by a strong edge."""
    rows, cols, w = [], [], []
    for t in range(frames):
        base = t * per
        for i in range(per - 1):
            rows.append(base + i)
            cols.append(base + i + 1)
            w.append(spatial)
        if t + 1 < frames:
            for i in range(per):
                if 0 <= i + shift < per:
                    rows.append(base + i)
                    cols.append(base + per + i + shift)
                    w.append(temporal)
    n = frames * per
    a = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    a = a + a.T
    lap = (sp.diags(np.asarray(a.sum(axis=1)).ravel()) - a).tocsr()
    return lap, np.arange(frames + 1, dtype=np.int64) * per


def test_relay_follows_the_motion_from_the_anchor() -> None:
    """An object of 4 nodes moving one node per frame: from its labels on the anchor
    frame, the relay recovers the moved object on every frame, in both directions, while
    the global labels (a blob fixed at the anchor position) are wrong elsewhere; the
    anchor's labels and hard seeds are kept."""
    frames, per = 7, 20
    lap, off = _chain_video(frames, per, shift=1)
    truth = np.zeros(frames * per, np.int64)
    for t in range(frames):
        truth[off[t] + 5 + t: off[t] + 9 + t] = 1
    anchor = 3
    glob = np.zeros_like(truth)
    for t in range(frames):  # a "faded" global solve: the object where it was on the anchor
        glob[off[t] + 8: off[t] + 12] = 1
    glob[off[anchor]:off[anchor + 1]] = truth[off[anchor]:off[anchor + 1]]
    seed = np.full_like(truth, -1)
    seed[off[anchor] + 9] = 1
    out = relay_labels(lap, off, glob, 2, {anchor}, seed, random_walker_probs, prior_weight=1e-4)
    np.testing.assert_array_equal(out, truth)
    assert (glob != truth).sum() > 10
    # a strong prior gives the global labels back off the anchor
    far = relay_labels(lap, off, glob, 2, {anchor}, seed, random_walker_probs, prior_weight=1e3)
    np.testing.assert_array_equal(far, glob)


def test_relay_takes_the_nearer_anchor() -> None:
    """Two anchors with different labels and no motion: every frame gets the labels of
    the nearer anchor (ties: the earlier), frames outside them of the outer anchors."""
    frames, per = 9, 10
    lap, off = _chain_video(frames, per, shift=0)
    glob = np.zeros(frames * per, np.int64)
    glob[off[2]:off[3]] = np.r_[np.ones(5), np.zeros(5)]
    glob[off[6]:off[7]] = np.r_[np.zeros(5), 2 * np.ones(5)]
    seed = np.full_like(glob, -1)
    out = relay_labels(lap, off, glob, 3, [6, 2], seed, random_walker_probs,
                       prior_weight=1e-4).reshape(frames, per)
    for t in range(frames):
        nearer = 2 if abs(t - 2) <= abs(t - 6) else 6
        np.testing.assert_array_equal(out[t], glob.reshape(frames, per)[nearer])




def test_node_prior_is_an_extra_prior() -> None:
    """``node_prior`` (labels, weights) equals the same one-hot prior given as the
    previous labels with that weight, and a zero weight changes nothing."""
    g = grid_graph(3, 16, 16, 4)
    from gnnannot.methods.baselines import colour_laplacian

    lap = colour_laplacian(g, 4.0)
    seeds = SeedState(g, 1)
    seeds.seed[[0, 20]] = [1, 0]
    lab = np.zeros(g.n_nodes, np.int64)
    lab[32:40] = 1
    a = seeded_walker_probs(lap, seeds, 2, node_prior=(lab, np.full(g.n_nodes, 0.3)))
    b = seeded_walker_probs(lap, seeds, 2, prev_labels=lab, prior_weight=0.3)
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = seeded_walker_probs(lap, seeds, 2, node_prior=(lab, np.zeros(g.n_nodes)))
    np.testing.assert_allclose(c, seeded_walker_probs(lap, seeds, 2), atol=1e-9)


def test_walker_with_relay_and_mask_keeps_scribbles() -> None:
    """A session of the walker with both options on a toy video: one foreground and one
    background stroke on frame 1 label the object on every frame (the graph has
    identity temporal edges), and every scribbled pixel keeps its label."""
    frames, h, w = 4, 16, 16
    g = grid_graph(frames, h, w, 4)
    from gnnannot.ivos.session import VideoData

    video = VideoData("toy", np.zeros((frames, h, w, 3), np.uint8), 1)
    # beta 1: edges of weight 1/e (every Lab distance equals the mean), flow edges 50x
    m = RandomWalker(lambda s: g, beta=1.0, relay=True, mask_weight=0.1,
                     background_weight=0.01)
    scr = {"scribbles": [[] for _ in range(frames)], "sequence": "toy"}
    scr["scribbles"][1] = [{"path": [[0.1, 0.1], [0.4, 0.1]], "object_id": 1},
                           {"path": [[0.1, 0.9], [0.9, 0.9]], "object_id": 0}]
    m.start(video)
    masks = m.interact(scr)
    assert masks.shape == (frames, h, w)
    for t in range(frames):  # identity flow: every frame like the scribbled one
        np.testing.assert_array_equal(masks[t], masks[1])
    assert masks[1, 1, 2] == 1 and masks[1, 14, 8] == 0
    hit = m.seeds.pixel_labels[1] >= 0
    np.testing.assert_array_equal(masks[1][hit], m.seeds.pixel_labels[1][hit])
