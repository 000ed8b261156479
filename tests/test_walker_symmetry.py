"""The random walker on a graph whose stored edges are not symmetric (one direction only,
or both directions with different weights): the Laplacian must use the symmetrised
weights ``(w_ij + w_ji) / 2``. On a chain the walk's answer is a ratio of resistances,
computed here by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gnnannot.ivos.session import VideoData
from gnnannot.methods.baselines import RandomWalker, colour_laplacian, random_walker_probs
from gnnannot.preprocess.graph import EDGE_FEATURE_NAMES
from gnnannot.types import VideoGraph

# chain 0 - 1 - 2 - 3 (one frame, one pixel per node); stored edges (src, dst, lab_dist):
# 0->1 only, 1->2 and 2->1 with different colours, 2->3 only
EDGES = [(0, 1, 1.0), (1, 2, 3.0), (2, 1, 0.5), (2, 3, 2.0)]
BETA = 1.0


def _chain() -> VideoGraph:
    local = np.arange(4, dtype=np.int32).reshape(1, 1, 4)
    n = 4
    ei = np.array([[e[0] for e in EDGES], [e[1] for e in EDGES]], np.int64)
    feats = np.zeros((len(EDGES), len(EDGE_FEATURE_NAMES)), np.float32)
    feats[:, EDGE_FEATURE_NAMES.index("lab_dist")] = [e[2] for e in EDGES]
    return VideoGraph(
        seq="chain", height=1, width=4, frame_offsets=np.array([0, 4], np.int64),
        node_features=np.zeros((n, 1), np.float32), node_feature_names=("x",),
        descriptors=np.zeros((n, 1), np.float32), descriptor_names=("d",),
        node_pixel_count=np.ones(n, np.int64), edge_index=ei,
        edge_type=np.zeros(len(EDGES), np.int8), edge_weight=np.ones(len(EDGES), np.float32),
        edge_features=feats, edge_feature_names=EDGE_FEATURE_NAMES,
        local_source=lambda i: local[i],
    )


def _hand_weights() -> tuple[float, float, float]:
    """Symmetrised conductances of the chain's links 0-1, 1-2, 2-3."""
    d = np.array([e[2] for e in EDGES])
    w = np.exp(-BETA * (d / d.mean()) ** 2)  # mean lab distance 1.625
    return w[0] / 2, (w[1] + w[2]) / 2, w[3] / 2


def test_laplacian_of_directed_edges_is_symmetrised() -> None:
    c01, c12, c23 = _hand_weights()
    lap = colour_laplacian(_chain(), BETA).toarray()
    want = np.array([[c01, -c01, 0, 0],
                     [-c01, c01 + c12, -c12, 0],
                     [0, -c12, c12 + c23, -c23],
                     [0, 0, -c23, c23]])  # fmt: skip
    np.testing.assert_allclose(lap, want, rtol=1e-12, atol=1e-15)


def test_walker_probabilities_are_resistance_ratios() -> None:
    """Seed 0 = label 1, seed 3 = label 0: the probability of reaching 0 first from node
    i is the resistance between i and 3 over the whole chain's."""
    c01, c12, c23 = _hand_weights()
    r01, r12, r23 = 1 / c01, 1 / c12, 1 / c23
    total = r01 + r12 + r23
    p1 = np.array([(r12 + r23) / total, r23 / total])  # nodes 1, 2 reach node 0 first
    seed = np.array([1, -1, -1, 0])
    probs = random_walker_probs(colour_laplacian(_chain(), BETA), seed, 2, eps=0.0,
                                tol=1e-14)  # fmt: skip
    np.testing.assert_allclose(probs[1:3, 1], p1, rtol=1e-9)
    np.testing.assert_allclose(probs[1:3, 0], 1 - p1, rtol=1e-9)
    np.testing.assert_array_equal(probs[[0, 3]], [[0.0, 1.0], [1.0, 0.0]])


def test_walker_labels_on_the_directed_chain() -> None:
    """Through the method: nodes 1 and 2 are closer (in resistance) to the object seed
    (p 0.79, 0.64). Without symmetrisation node 1, whose only stored edge leaves towards
    node 2, would see no link to node 0 and both would take the background label."""
    c01, c12, c23 = _hand_weights()
    r01, r12, r23 = 1 / c01, 1 / c12, 1 / c23
    total = r01 + r12 + r23
    assert (r12 + r23) / total > r23 / total > 0.5  # the hand-computed expectation
    g = _chain()
    m = RandomWalker(lambda s: g, beta=BETA, eps=0.0, tol=1e-12, frame_threshold=0.0)
    m.start(VideoData("chain", np.zeros((1, 1, 4, 3), np.uint8), 1))
    m.seeds.add({"scribbles": [[{"path": [[0.0, 0.0]], "object_id": 1},
                                {"path": [[1.0, 0.0]], "object_id": 0}]],
                 "sequence": "chain"})  # fmt: skip
    assert m.predict_nodes().tolist() == [1, 1, 1, 0]


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_walker_is_invariant_to_a_common_weight_scale(scale: float) -> None:
    """Scaling every colour distance by a constant changes no weight (d / mean d)."""
    g = _chain()
    g2 = _chain()
    g2.edge_features = g.edge_features * scale
    np.testing.assert_allclose(colour_laplacian(g2, BETA).toarray(),
                               colour_laplacian(g, BETA).toarray(), rtol=1e-6)
