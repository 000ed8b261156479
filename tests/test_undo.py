"""Annotator undo / reset from stored per-interaction state (issue 16): the masks after
an undo are those before the last interaction, label for label; the method's state is
restored with them (the next interaction gives what a fresh annotator fed the same
interactions gives); reset returns to the started method with no interaction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gnnannot.annotate import Annotator
from gnnannot.data.synthetic import make_video
from gnnannot.errors import DataError

T, H, W = 6, 120, 214


@pytest.fixture(scope="module")
def clip(tmp_path_factory, write_png_frames):
    synth = make_video(4, "undo", n_frames=T, height=H, width=W, max_objects=2,
                       with_flow=False)
    d = tmp_path_factory.mktemp("undo")
    write_png_frames(synth.frames, d / "frames", "{t:05d}.png")
    s1 = d / "s1.json"
    s1.write_text(json.dumps(synth.scribble))
    # corrections: background on part of frame T-1's background, object 1 inside its mask
    bg = np.zeros((H, W), np.uint8)
    ys, xs = np.nonzero(synth.masks[T - 1] == 0)
    bg[ys[::7][:300], xs[::7][:300]] = 255
    fg = np.zeros((H, W), np.uint8)
    ys, xs = np.nonzero(synth.masks[2] == 1)
    fg[ys[::3][:200], xs[::3][:200]] = 1
    return {"frames": d / "frames", "cache": d / "cache",
            "steps": [(s1, None), (bg, T - 1), (fg, 2)]}


def _annotator(clip, method: str) -> Annotator:
    return Annotator(clip["frames"], method=method, cache_dir=clip["cache"])


@pytest.mark.parametrize("method", ["random_walker", "gnn", "nearest_seed"])
def test_undo_restores_the_state_before_the_last_interaction(clip, method) -> None:
    s = clip["steps"]
    ann = _annotator(clip, method)
    after = [ann.interact(scr, frame=f).to_array() for scr, f in s]
    assert not np.array_equal(after[1], after[2])  # the last interaction changed masks
    back = ann.undo()
    assert back is not None and np.array_equal(back.to_array(), after[1])
    assert np.array_equal(ann.masks.to_array(), after[1]) and len(ann.history) == 2
    assert len(ann.timings) == 2
    # the method's state came back too: redoing equals a fresh annotator's answer
    redo = ann.interact(*s[2][:1], frame=s[2][1]).to_array()
    fresh = _annotator(clip, method)
    want = [fresh.interact(scr, frame=f).to_array() for scr, f in s]
    assert np.array_equal(redo, want[2]) and np.array_equal(after[2], want[2])
    # two undos: back to the first interaction's masks, label for label
    ann.undo()
    assert np.array_equal(ann.undo().to_array(), after[0])
    assert ann.undo() is None and ann.masks is None
    with pytest.raises(DataError, match="nothing to undo"):
        ann.undo()


def test_reset_keeps_the_method_started(clip) -> None:
    s = clip["steps"]
    ann = _annotator(clip, "random_walker")
    first = ann.interact(s[0][0]).to_array()
    ann.interact(s[1][0], frame=s[1][1])
    method = ann.method
    ann.reset()
    assert ann.masks is None and ann.history == [] and ann.method is method
    assert ann.method.seeds.seeded.size == 0 and ann.method._probs is None
    assert np.array_equal(ann.interact(s[0][0]).to_array(), first)
