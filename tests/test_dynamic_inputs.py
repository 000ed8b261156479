"""The GNN's selectable dynamic inputs and the per-frame ratio of the walker's answer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from toy_graphs import grid_graph

from gnnannot.errors import ConfigError
from gnnannot.methods.baselines import frame_normalised_labels, frame_ratio
from gnnannot.methods.gnn import (
    DEFAULT_DYNAMIC_INPUTS,
    DYNAMIC_INPUT_NAMES,
    GraphInputs,
    InteractionState,
    constant_inputs,
    dynamic_inputs,
    model_params,
)
from gnnannot.preprocess.features import NODE_FEATURE_NAMES


def test_frame_ratio_hand_values() -> None:
    obj = np.array([[0.2, 0.0], [0.4, 0.3], [0.9, 0.6], [1.2, 0.0], [0.6, 0.0]])
    frame = np.array([0, 0, 1, 2, 2])
    got = frame_ratio(obj, frame, 3)
    # frame 0: peaks 0.4 / 0.3; frame 1: 0.9 / 0.6; frame 2: 1.2 (overshoot: /1) / 0 (stays 0)
    want = np.array([[0.5, 0.0], [1.0, 1.0], [1.0, 1.0], [1.2, 0.0], [0.6, 0.0]])
    np.testing.assert_allclose(got, want)
    # the walker's per-frame decision on the same ratios: background, then objects 1 or 2
    probs = np.c_[np.full(5, 0.1), obj]
    np.testing.assert_array_equal(frame_normalised_labels(probs, frame, 3, 0.55),
                                  [0, 1, 1, 1, 1])


def test_dynamic_inputs_validate_names() -> None:
    assert dynamic_inputs(None) == list(DEFAULT_DYNAMIC_INPUTS)
    assert set(DEFAULT_DYNAMIC_INPUTS) < set(DYNAMIC_INPUT_NAMES)
    for bad in (["rw_prob", "nope"], ["rw_prob", "rw_prob"], []):
        with pytest.raises(ConfigError, match="dyn_features"):
            dynamic_inputs(bad)


def test_selected_inputs_are_the_named_columns_of_all_inputs() -> None:
    """A network reading a subset gets exactly those columns of the full input, in its
    order; the ratio columns are the walker's answer divided by its per-frame peak."""
    base = grid_graph(3, 8, 8, 4)  # 4 nodes per frame
    n = base.n_nodes
    graph = dataclasses.replace(  # the constant node features the network reads
        base, node_features=np.ones((n, len(NODE_FEATURE_NAMES)), np.float32),
        node_feature_names=NODE_FEATURE_NAMES)
    scribble = {"sequence": "toy", "scribbles": [
        [{"path": [[0.1, 0.1], [0.2, 0.2]], "object_id": 1}], [],
        [{"path": [[0.9, 0.9], [0.8, 0.8]], "object_id": 0}]]}  # fmt: skip
    full = InteractionState(GraphInputs(graph, dyn_features=list(DYNAMIC_INPUT_NAMES)), 1)
    pick = ["rw_frame_ratio", "fg_hit", "rw_prob", "rw_frame_ratio_bg"]
    part = InteractionState(GraphInputs(graph, dyn_features=pick), 1)
    x_full, x_part = full.add(scribble), part.add(scribble)
    assert x_full.shape == (1, graph.n_nodes, len(DYNAMIC_INPUT_NAMES))
    assert x_part.shape == (1, graph.n_nodes, len(pick))
    for j, name in enumerate(pick):
        torch.testing.assert_close(x_part[..., j], x_full[..., DYNAMIC_INPUT_NAMES.index(name)])
    rw = x_full[0, :, DYNAMIC_INPUT_NAMES.index("rw_prob")].numpy().astype(np.float64)
    frame = graph.node_frame
    peak = np.array([rw[frame == t].max() for t in range(3)])
    want = np.clip(rw / np.clip(peak[frame], 1e-12, 1.0), 0, 1)
    np.testing.assert_allclose(x_part[0, :, 0].numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x_part[0, :, 3].numpy(), 1 - want, rtol=1e-5, atol=1e-6)
    default = InteractionState(GraphInputs(graph), 1)  # reads no ratio: none is built
    assert not default.inputs.builds_ratio
    torch.testing.assert_close(default.add(scribble),
                               x_full[..., : len(DEFAULT_DYNAMIC_INPUTS)])
    assert model_params(graph, {"dyn_features": pick})["n_dyn"] == 4
    assert model_params(graph, {})["dyn_features"] == list(DEFAULT_DYNAMIC_INPUTS)


def test_constant_inputs_select_graph_columns() -> None:
    base = grid_graph(2, 8, 8, 4)
    n = base.n_nodes
    feats = np.arange(n * len(NODE_FEATURE_NAMES), dtype=np.float32).reshape(n, -1) % 7 + 1
    graph = dataclasses.replace(base, node_features=feats,
                                node_feature_names=NODE_FEATURE_NAMES)
    pick = ["log_size", "L_std", "fwd_dx"]
    full, part = GraphInputs(graph), GraphInputs(graph, const_features=pick)
    assert part.x_const.shape == (n, 3)
    for j, name in enumerate(pick):
        torch.testing.assert_close(part.x_const[:, j],
                                   full.x_const[:, NODE_FEATURE_NAMES.index(name)])
    assert model_params(graph, {"const_features": pick})["n_const"] == 3
    assert constant_inputs(None, NODE_FEATURE_NAMES) == list(NODE_FEATURE_NAMES)
    with pytest.raises(ConfigError, match="not in the graph: \\['cz'\\]"):
        GraphInputs(graph, const_features=["cy", "cz"])
