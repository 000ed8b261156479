"""Dynamic node features and the per-session logistic regression."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnannot.errors import DataError
from gnnannot.model import (
    DYNAMIC_FEATURE_NAMES,
    DynamicFeatureBuilder,
    build_dynamic_features,
    count_scribble_hits,
    fit_logistic,
    fit_object_models,
    predict_object_probs,
)

F = {name: i for i, name in enumerate(DYNAMIC_FEATURE_NAMES)}


def test_count_scribble_hits() -> None:
    hits = count_scribble_hits([0, 0, 2, 3, 3, 3], [1, 1, 0, 2, 2, 1], n_nodes=4, n_objects=2)
    assert hits.shape == (3, 4) and hits.dtype == np.int32
    np.testing.assert_array_equal(hits, [[0, 0, 1, 0], [2, 0, 0, 1], [0, 0, 0, 2]])
    with pytest.raises(DataError, match="labels"):
        count_scribble_hits([0], [3], n_nodes=4, n_objects=2)


def test_two_frame_chain_propagation_and_features() -> None:
    # frame 0: nodes 0, 1; frame 1: nodes 2, 3. Forward flow 0->2 (w 3), 1->2 (w 1),
    # 1->3 (w 1); spatial 0-1 (ignored by the propagation).
    node_frame = np.array([0, 0, 1, 1], np.int32)
    edge_index = np.array([[0, 1, 1, 0, 1], [2, 2, 3, 1, 0]])
    edge_type = np.array([1, 1, 1, 0, 0])
    edge_weight = np.array([3.0, 1.0, 1.0, 1.0, 1.0])
    builder = DynamicFeatureBuilder(node_frame, edge_index, edge_type, edge_weight, decay=0.9)
    # object 1 scribbled on node 0, background on node 3
    hits = np.zeros((2, 4), np.int32)
    hits[1, 0] = 5
    hits[0, 3] = 2
    prev = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    feats = builder(hits, annotated_frames=[0], new_frames=[1], prev_probs=prev)
    assert isinstance(feats, torch.Tensor) and feats.dtype == torch.float32
    assert feats.shape == (1, 4, len(DYNAMIC_FEATURE_NAMES))
    f = feats[0].numpy()
    np.testing.assert_array_equal(f[:, F["frame_annotated"]], [1, 1, 1, 1])  # 0 and new 1
    np.testing.assert_array_equal(f[:, F["frame_new"]], [0, 0, 1, 1])
    np.testing.assert_array_equal(f[:, F["fg_hit"]], [1, 0, 0, 0])
    np.testing.assert_array_equal(f[:, F["bg_hit"]], [0, 0, 0, 1])
    # forward: node 2 gets 0.9 * (3/4 * 1 + 1/4 * 0); node 3 only from node 1 -> 0
    np.testing.assert_allclose(f[:, F["fg_prop"]], [1.0, 0.0, 0.9 * 0.75, 0.0], rtol=1e-6)
    # backward (reversed forward edges, no type-2 edges): node 1's only successors... node 1
    # is the target of 2->1 (w 1 of 1) and 3->1 (w 1 of 2); bg seed on 3 -> 0.9 * 1/2
    np.testing.assert_allclose(f[:, F["bg_prop"]], [0.0, 0.45, 0.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(f[:, F["prev_prob"]], prev[0])
    np.testing.assert_array_equal(f[:, F["lr_fg_prob"]], 0)  # no descriptors
    assert f.min() >= 0 and f.max() <= 1


def test_propagation_decays_over_frames_and_backward_edges() -> None:
    # chain of 4 frames, one node each, forward edges t->t+1 and explicit backward ones
    node_frame = np.array([2, 0, 3, 1])  # node order is not frame order
    order = np.argsort(node_frame)  # nodes of frames 0..3: 1, 3, 0, 2
    fw = np.stack([order[:-1], order[1:]])
    edge_index = np.concatenate([fw, fw[::-1]], axis=1)
    edge_type = np.r_[np.ones(3), np.full(3, 2)]
    builder = DynamicFeatureBuilder(node_frame, edge_index, edge_type, decay=0.5)
    seeds = np.zeros(4)
    seeds[order[1]] = 1.0  # seed in frame 1
    got = builder.propagate(seeds)
    want = np.zeros(4)
    want[order] = [0.5, 1.0, 0.5, 0.25]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # proximity: annotated frame 1 only
    prox = builder.frame_features([1], [])[2]
    np.testing.assert_allclose(prox[order], [0.9, 1.0, 0.9, 0.81], rtol=1e-6)
    assert builder.frame_features([], [])[2].max() == 0


def test_logistic_regression_separates_and_handles_missing_classes() -> None:
    rng = np.random.default_rng(0)
    d = 16
    fg_centre, bg_centre = np.full(d, 1.0), np.full(d, -1.0)
    n = 400
    desc = np.concatenate([fg_centre + rng.normal(size=(n // 2, d)),
                           bg_centre + rng.normal(size=(n // 2, d))]).astype(np.float32)
    hits = np.zeros((3, n), np.int32)
    hits[1, :10] = 1  # object 1 scribbled on 10 fg-like nodes
    hits[0, n // 2 : n // 2 + 30] = 1  # background on 30 bg-like nodes
    models = fit_object_models(desc, hits)
    assert models[1] is None  # object 2 has no scribble
    probs = predict_object_probs(models, desc)
    assert probs.shape == (2, n) and probs.dtype == np.float32
    assert (probs[0, : n // 2] > 0.5).mean() > 0.95
    assert (probs[0, n // 2 :] < 0.5).mean() > 0.95
    np.testing.assert_array_equal(probs[1], 0)
    # deterministic
    np.testing.assert_array_equal(predict_object_probs(fit_object_models(desc, hits), desc),
                                  probs)
    # no bg scribble at all: pseudo-negatives from unscribbled nodes
    only_fg = hits.copy()
    only_fg[0] = 0
    p2 = predict_object_probs(fit_object_models(desc, only_fg), desc)[0]
    assert p2[:10].mean() > 0.5 and p2[n // 2 :].mean() < 0.5
    # direct fit: fg-like query gets p > 0.5
    y = np.r_[np.ones(10), np.zeros(30)]
    x = np.concatenate([desc[:10], desc[n // 2 : n // 2 + 30]])
    model = fit_logistic(x, y, l2=1.0)
    assert model.predict_proba(fg_centre[None])[0] > 0.5
    assert model.predict_proba(bg_centre[None])[0] < 0.5
    with pytest.raises(DataError, match="both classes"):
        fit_logistic(x[:10], y[:10])


def test_lr_feature_in_builder_and_multi_object_bg() -> None:
    rng = np.random.default_rng(1)
    n, d = 40, 8
    node_frame = np.repeat(np.arange(4), 10)
    desc = rng.normal(size=(n, d)) + np.where(np.arange(n) % 2 == 0, 2.0, -2.0)[:, None]
    edge_index = np.stack([np.arange(30), np.arange(10, 40)])
    edge_type = np.ones(30)
    hits = np.zeros((3, n), np.int32)
    hits[1, [0, 2, 4]] = 3  # object 1 on even (fg-like) nodes of frame 0
    hits[2, [1, 3]] = 1  # object 2 on odd nodes
    feats = build_dynamic_features(node_frame, edge_index, edge_type, hits, [0], [0],
                                   descriptors=desc).numpy()
    assert feats.shape == (2, n, len(DYNAMIC_FEATURE_NAMES))
    lr = feats[0, :, F["lr_fg_prob"]]
    assert (lr[::2] > 0.5).all() and (lr[1::2] < 0.5).all()
    # another object's scribble is background for object 1, and vice versa
    np.testing.assert_array_equal(np.flatnonzero(feats[0, :, F["bg_hit"]]), [1, 3])
    np.testing.assert_array_equal(np.flatnonzero(feats[1, :, F["bg_hit"]]), [0, 2, 4])
    # seed on node 0 propagates straight down the chain 0 -> 10 -> 20 -> 30
    np.testing.assert_allclose(feats[0, [0, 10, 20, 30], F["fg_prop"]],
                               [1, 0.9, 0.81, 0.729], rtol=1e-6)
    assert (feats[:, :, F["prev_prob"]] == 0).all()


def test_builder_input_errors() -> None:
    node_frame = np.zeros(3)
    ei = np.array([[0], [1]])
    with pytest.raises(DataError, match="edge_type"):
        DynamicFeatureBuilder(node_frame, ei, np.array([1, 1]))
    b = DynamicFeatureBuilder(node_frame, ei, np.array([0]))
    with pytest.raises(DataError, match="hits"):
        b(np.zeros((2, 5)), [], [])
    with pytest.raises(DataError, match="prev_probs"):
        b(np.zeros((2, 3)), [], [], prev_probs=np.zeros((2, 3)))
