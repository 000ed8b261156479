"""SeedState (scribbles -> superpixel seeds) against a pixel-by-pixel reference of its
documented rules, over random sequences of interactions (hypothesis): hits per node and
label, hard seeds ("soft": one label among all scribbled pixels so far; "latest": the
label with most pixels in the newest interaction that touches the node), soft nodes,
scribbled pixel layers (a later stroke wins), annotated/new frames, the painter
snapshot."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_graphs import H, QuadrantGrid, T, W

from gnnannot.errors import ConfigError
from gnnannot.interaction.seeds import UNLABELLED, SeedState
from gnnannot.ivos.scribbles import rasterize_frame

K = 2




coord = st.floats(0.0, 1.0, allow_nan=False)
stroke = st.tuples(st.lists(st.tuples(coord, coord), min_size=1, max_size=3),
                   st.integers(0, K))
# one interaction: strokes per frame; the scribble may carry one frame more than the
# graph (T + 1 entries: a longer scribble's extra frame is ignored)
interaction = st.tuples(st.lists(stroke, max_size=2), st.lists(stroke, max_size=2),
                        st.lists(stroke, max_size=1))


def _scribble(inter) -> dict:
    return {"scribbles": [[{"path": [list(p) for p in path], "object_id": k}
                           for path, k in strokes] for strokes in inter],
            "sequence": "toy"}  # fmt: skip


class _Reference:
    def __init__(self, mixed: str) -> None:
        self.mixed = mixed
        self.g = QuadrantGrid()
        self.hits = np.zeros((self.g.n_nodes, K + 1))
        self.seed = np.full(self.g.n_nodes, -1)
        self.layers: dict[int, np.ndarray] = {}
        self.annotated: set[int] = set()

    def add(self, scribble: dict) -> tuple[list[int], list[int]]:
        new = np.zeros_like(self.hits)
        frames = []
        for t, strokes in enumerate(scribble["scribbles"]):
            if not any(len(s["path"]) for s in strokes) or t >= T:
                continue
            frames.append(t)
            img = rasterize_frame(strokes, H, W)
            layer = self.layers.get(t, np.full((H, W), -1)).copy()
            lab = self.g.labels(t)
            for y in range(H):
                for x in range(W):
                    if img[y, x] >= 0:
                        new[lab[y, x], img[y, x]] += 1
                        layer[y, x] = img[y, x]
            self.layers[t] = layer
        self.hits += new
        touched = [n for n in range(self.g.n_nodes) if new[n].sum() > 0]
        for n in touched:
            if self.mixed == "latest":
                self.seed[n] = int(np.argmax(new[n]))  # ties: the lowest label
            else:
                labels = [k for k in range(K + 1) if self.hits[n, k] > 0]
                self.seed[n] = labels[0] if len(labels) == 1 else -1
        self.annotated.update(frames)
        return touched, frames


@settings(deadline=None)
@given(st.sampled_from(["soft", "latest"]), st.lists(interaction, min_size=1, max_size=4))
def test_seed_state_matches_the_reference(mixed, interactions) -> None:
    s = SeedState(QuadrantGrid(), K, mixed=mixed)
    ref = _Reference(mixed)
    for inter in interactions:
        scribble = _scribble(inter)
        before = s.painter()
        old_layers = {t: v.copy() for t, v in s.pixel_labels.items()}
        touched = s.add(scribble)
        want_touched, want_frames = ref.add(scribble)
        assert touched.tolist() == want_touched and s.new_nodes.tolist() == want_touched
        assert s.new_frames == want_frames
        assert s.annotated == ref.annotated
        np.testing.assert_array_equal(s.hits, ref.hits)
        assert s.seed.dtype == np.int64 and s.hits.dtype == np.float32
        np.testing.assert_array_equal(s.seed, ref.seed)
        assert s.seeded.tolist() == [n for n in range(8) if ref.seed[n] >= 0]
        soft = [n for n in range(8) if ref.seed[n] < 0 and (ref.hits[n] > 0).sum() > 1]
        assert s.soft_nodes.tolist() == soft
        assert sorted(s.pixel_labels) == sorted(ref.layers)
        for t, layer in ref.layers.items():
            assert s.pixel_labels[t].dtype == np.int16
            np.testing.assert_array_equal(s.pixel_labels[t], layer)
        # paint() gives every scribbled pixel its label and leaves the others alone
        masks = np.full((T, H, W), 7, np.uint8)
        s.paint(masks)
        for t in range(T):
            layer = ref.layers.get(t, np.full((H, W), -1))
            np.testing.assert_array_equal(masks[t], np.where(layer >= 0, layer, 7))
        # the painter taken before this interaction still paints the old layers
        for t in range(T):
            old = old_layers.get(t, np.full((H, W), -1))
            got = before(t, np.full((H, W), 7, np.uint8))
            np.testing.assert_array_equal(got, np.where(old >= 0, old, 7))


def test_fresh_state_and_bad_rule() -> None:
    s = SeedState(QuadrantGrid(), K)
    assert s.mixed == "soft" and s.n_objects == K
    assert s.seed.tolist() == [UNLABELLED] * 8 and s.seed.dtype == np.int64
    assert s.hits.shape == (8, K + 1) and not s.hits.any() and s.hits.dtype == np.float32
    assert s.pixel_labels == {} and s.annotated == set() and s.new_frames == []
    assert s.new_nodes.tolist() == [] and s.new_nodes.dtype == np.int64
    assert s.seeded.tolist() == [] and s.soft_nodes.tolist() == []
    with pytest.raises(ConfigError, match=r"mixed must be one of \('soft', 'latest'\), "
                                          r"found 'newest'"):
        SeedState(QuadrantGrid(), K, mixed="newest")


def test_object_ids_above_n_objects_are_ignored() -> None:
    """A stroke of object 3 on a 2-object state seeds nothing and is not painted."""
    s = SeedState(QuadrantGrid(), K)
    touched = s.add(_scribble(([([(0.1, 0.1)], 3)], [], [])))
    assert touched.tolist() == [] and not s.hits.any()
    assert (s.pixel_labels[0] == UNLABELLED).all()


def test_latest_rule_majority_within_one_interaction() -> None:
    """Within one interaction the label with most pixels wins the node ("latest")."""
    s = SeedState(QuadrantGrid(), K, mixed="latest")
    # top-left quadrant (x, y < 0.5): object 1 over 3 pixels, background over 1
    s.add(_scribble(([([(0.0, 0.0), (2 / 7, 0.0)], 1), ([(0.0, 3 / 7)], 0)], [], [])))
    assert s.hits[0].tolist() == [1.0, 3.0, 0.0] and s.seed[0] == 1
    s.add(_scribble(([([(0.0, 1 / 7)], 2)], [], [])))  # one pixel of object 2 later
    assert s.seed[0] == 2 and s.hits[0].tolist() == [1.0, 3.0, 1.0]
