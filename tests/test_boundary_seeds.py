"""A correction stroke on a superpixel that straddles the object boundary must not flood
(issue 14): hand-built video, the benchmark's random walker (the GNN's prior input)."""

from __future__ import annotations

import numpy as np
import pytest

from gnnannot.ivos.session import VideoData
from gnnannot.methods.baselines import RandomWalker
from tests.test_baselines import _graph

T_N = 4
# each 1x10 frame: superpixels A B C D E of 2 pixels; the object is pixels 0-4, so C
# (pixels 4-5) straddles the boundary, and C looks like the background (Lab distance
# 1 to D, 3 to B); flow links every superpixel to itself in the next frame
LOCAL = np.tile(np.arange(5, dtype=np.int32).repeat(2)[None, None], (T_N, 1, 1))
A, B, C, D, E = range(5)


def _video_graph():
    edges = []
    for t in range(T_N):
        o = 5 * t
        for k, d in ((A, 1.0), (B, 3.0), (C, 1.0), (D, 1.0)):  # k -- k+1
            edges += [(o + k, o + k + 1, 0, d), (o + k + 1, o + k, 0, d)]
        if t + 1 < T_N:
            edges += [e for k in range(5)
                      for e in ((o + k, o + 5 + k, 1, 1.0), (o + 5 + k, o + k, 2, 1.0))]
    return _graph(LOCAL, edges)


def _scribble(strokes: list[tuple[list[list[float]], int]]) -> dict:
    s = {"scribbles": [[] for _ in range(T_N)], "sequence": "toy"}
    s["scribbles"][0] = [{"path": p, "object_id": o} for p, o in strokes]
    return s


# interaction 1: fg on A, bg from C's background pixel (5) to E; interaction 2 (the
# robot's false-negative sliver): fg on pixel 4, C's object pixel
FIRST = _scribble([([[0.05, 0.0], [0.15, 0.0]], 1), ([[0.55, 0.0], [0.95, 0.0]], 0)])
SLIVER = _scribble([([[0.45, 0.0]], 1)])
BENCHMARK_WALKER = dict(beta=4.0, flow_scale=50.0, flow_overlap=True, frame_threshold=0.0,
                        prior_weight=0.005, soft_seed_weight=1.0, tol=1e-10)


@pytest.mark.parametrize("mixed", ["soft", "latest"])
def test_boundary_superpixel_correction_does_not_flood(mixed: str) -> None:
    g = _video_graph()
    m = RandomWalker(lambda s: g, mixed_seeds=mixed, **BENCHMARK_WALKER)
    m.start(VideoData("toy", np.zeros((T_N, 1, 10, 3), np.uint8), 1))
    first = m.interact(FIRST)
    expected = np.zeros((T_N, 1, 10), np.uint8)
    expected[:, :, :4] = 1  # A and B; C takes its majority label, background
    expected[0, 0, 4] = 0
    np.testing.assert_array_equal(first, expected)
    masks = m.interact(SLIVER)
    labels = m.predict_nodes().reshape(T_N, 5)
    assert masks[0, 0, 4] == 1  # the scribbled pixel keeps its label either way
    if mixed == "soft":
        # C now carries both labels: a soft seed, no hard one; nothing changes elsewhere
        assert m.seeds.seed[C] == -1 and C in m.seeds.soft_nodes
        np.testing.assert_array_equal(labels[:, [A, B]], 1)
        np.testing.assert_array_equal(labels[:, [C, D, E]], 0)
    else:
        # the latest stroke wins C as a hard object seed, and the strong flow edges carry
        # the wrong label to C in every frame: the flood the soft rule prevents
        assert m.seeds.seed[C] == 1
        np.testing.assert_array_equal(labels[:, C], 1)
