"""A later correction overrides an earlier seed (issue 19, item 2), and J per object
against hand-counted pixels (not only against the official package)."""

from __future__ import annotations

import numpy as np
import pytest
from toy_graphs import H, QuadrantGrid, T, W

from gnnannot.interaction.seeds import SeedState
from gnnannot.ivos.metrics import batched_jaccard


def _stroke(frame: int, obj: int, pts: list[tuple[float, float]]) -> dict:
    frames: list[list[dict]] = [[] for _ in range(T)]
    frames[frame] = [{"path": [list(p) for p in pts], "object_id": obj,
                      "start_time": 0, "end_time": 1}]  # fmt: skip
    return {"scribbles": frames, "sequence": "toy"}


# a point in the top-left quadrant (node 0 on frame 0), normalised (x, y)
TL = [(0.1, 0.1), (0.12, 0.1)]


@pytest.mark.parametrize("mixed", ["soft", "latest"])
def test_one_pixel_background_correction_removes_the_foreground_seed(mixed):
    s = SeedState(QuadrantGrid(), n_objects=1, mixed=mixed)
    s.add(_stroke(0, 1, TL))
    assert s.seed[0] == 1 and list(s.seeded) == [0]
    s.add(_stroke(0, 0, TL))  # the user paints background over the same pixel
    # "latest": the correction wins the node; "soft": the node is no hard seed any more
    assert s.seed[0] == (0 if mixed == "latest" else -1)
    assert 1 not in s.seed[s.seeded]
    # the scribbled pixel itself carries the later label in the painted output
    ys, xs = np.nonzero(s.pixel_labels[0] >= 0)
    assert len(ys) >= 1 and (s.pixel_labels[0][ys, xs] == 0).all()
    out = s.paint(np.ones((T, H, W), np.uint8))
    assert (out[0][ys, xs] == 0).all()


def test_correction_on_another_node_keeps_the_first_seed():
    s = SeedState(QuadrantGrid(), n_objects=1)
    s.add(_stroke(0, 1, TL))
    s.add(_stroke(0, 0, [(0.9, 0.9), (0.92, 0.9)]))  # bottom-right quadrant: node 3
    assert s.seed[0] == 1 and s.seed[3] == 0


def test_multi_object_jaccard_hand_counted():
    gt = np.zeros((1, 4, 4), np.uint8)
    gt[0, :2, :2] = 1  # 4 pixels of object 1
    gt[0, 2:, 2:] = 2  # 4 pixels of object 2
    pred = np.zeros_like(gt)
    pred[0, :2, :3] = 1  # object 1: inter 4, union 6 -> 2/3
    pred[0, 3, 3] = 2  # object 2: inter 1, union 4 -> 1/4
    pred[0, 0, 3] = 2  # ... and a stray object-2 pixel: union 5 -> 1/5
    j = batched_jaccard(gt, pred)
    np.testing.assert_allclose(j[:, 0], [4 / 6, 1 / 5])
    # counting any object as the prediction would give object 1: 4/ (4+2+2) != 2/3
    assert j[0, 0] != pytest.approx(4 / 8)
