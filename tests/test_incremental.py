"""Incremental stages recompute exactly what changed (issue 19, item 1): every store's
fingerprint covers its inputs' content (frames, upstream stores), its params and its code
version. Each input is changed alone and the set of recomputed videos per stage is
compared with the hand-derived expectation. Also the own-video cache of segment/annotate."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gnnannot.data import davis
from gnnannot.data.video_io import open_video
from gnnannot.pipeline import features, graphs, superpixels
from gnnannot.pipeline import video_cache as prep_cache
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.runner import dataset_sequences
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store import base as store_base
from gnnannot.store import flow as flow_store
from gnnannot.store.base import files_digest
from gnnannot.store.superpixels import open_superpixels

H, W, T = 48, 64, 3
STAGES = ("flow", "sp", "ft", "gr")


def _frames(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.kron(rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8),
                  np.ones((8, 8, 1), np.uint8))  # fmt: skip
    return np.stack([np.roll(img, 2 * t, axis=1) for t in range(T)])


def _build(tmp: Path, preset: str = "ultrafast", n_segments: int = 30,
           ft_dtype: str = "float16", min_flow_weight: float = 0.05) -> dict[str, list[str]]:
    root = str(tmp / "davis")
    fl, sp, ft, gr = (str(tmp / f"{n}.zarr") for n in ("flow", "superpixels", "features",
                                                        "graphs"))  # fmt: skip
    seqs = dataset_sequences(root)
    res = {
        "flow": build_flow_store(root, fl, preset=preset, quiet=True),
        "sp": build_superpixel_store(root, sp, fl, SuperpixelParams(n_segments=n_segments),
                                     quiet=True),  # fmt: skip
        "ft": build_feature_store(root, ft, sp, fl, dtype=ft_dtype, quiet=True),
        "gr": build_graph_store(gr, sp, ft, fl, seqs, min_flow_weight=min_flow_weight,
                                quiet=True),  # fmt: skip
    }
    return {k: sorted(v["computed"]) for k, v in res.items()}


def _expect(**computed: list[str]) -> dict[str, list[str]]:
    return {k: sorted(computed.get(k, [])) for k in STAGES}


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("incr")
    for i, name in enumerate(("a", "b")):
        masks = np.zeros((T, H, W), np.uint8)
        masks[:, 8:24, 16:40] = 1
        davis.write_sequence(tmp / "davis", name, _frames(i), masks)
    davis.write_split(tmp / "davis", "train", ["a"])
    davis.write_split(tmp / "davis", "val", ["b"])
    both = ["a", "b"]
    assert _build(tmp) == _expect(flow=both, sp=both, ft=both, gr=both)
    assert _build(tmp) == _expect()  # nothing changed: nothing recomputed
    return tmp


def test_changed_frame_content_recomputes_that_video_in_every_stage(ds):
    """The stale-flow bug: same frame count and size, other pixels."""
    path = davis.frame_paths(ds / "davis", "b")[1]
    frame = davis.read_image(path)
    davis.write_frame(path, 255 - frame)
    assert _build(ds) == _expect(flow=["b"], sp=["b"], ft=["b"], gr=["b"])
    fv = flow_store.open_flow(ds / "flow.zarr", "b")
    assert fv.attrs["frames_digest"] == files_digest(davis.frame_paths(ds / "davis", "b"))
    assert _build(ds) == _expect()


def test_each_stage_param_recomputes_that_stage_and_downstream(ds):
    both = ["a", "b"]
    assert _build(ds, min_flow_weight=0.1) == _expect(gr=both)
    assert _build(ds, min_flow_weight=0.1, ft_dtype="float32") == _expect(ft=both, gr=both)
    assert _build(ds, min_flow_weight=0.1, ft_dtype="float32", n_segments=40) == _expect(
        sp=both, ft=both, gr=both)  # fmt: skip
    assert _build(ds, preset="fast", min_flow_weight=0.1, ft_dtype="float32",
                  n_segments=40) == _expect(flow=both, sp=both, ft=both, gr=both)  # fmt: skip
    assert _build(ds) == _expect(flow=both, sp=both, ft=both, gr=both)  # back to defaults


@pytest.mark.parametrize(("module", "name", "affected"), [
    (graphs, "STAGE_VERSION", ("gr",)),
    (features, "STAGE_VERSION", ("ft", "gr")),
    (superpixels, "STAGE_VERSION", ("sp", "ft", "gr")),
    (flow_store, "CODE_VERSION", STAGES),
])  # fmt: skip
def test_code_version_recomputes_that_stage_and_downstream(ds, monkeypatch, module, name,
                                                           affected):  # fmt: skip
    monkeypatch.setattr(module, name, getattr(module, name) + 100)
    assert _build(ds) == _expect(**{k: ["a", "b"] for k in affected})
    assert _build(ds) == _expect()
    monkeypatch.undo()
    assert _build(ds) == _expect(**{k: ["a", "b"] for k in affected})


def test_upstream_group_replaced_recomputes_downstream_only_for_it(ds):
    """Flow of video a rebuilt with other settings (only a, by hand): the superpixels,
    features and graphs of a follow, b stays."""
    build_flow_store(str(ds / "davis"), str(ds / "flow.zarr"), preset="fast", sequences=["a"],
                     prune=False, quiet=True)  # fmt: skip
    fl, sp, ft = (str(ds / f"{n}.zarr") for n in ("flow", "superpixels", "features"))
    sp_res = build_superpixel_store(str(ds / "davis"), sp, fl, SuperpixelParams(n_segments=30),
                                    quiet=True)  # fmt: skip
    assert sorted(sp_res["computed"]) == ["a"]
    ft_res = build_feature_store(str(ds / "davis"), ft, sp, fl, quiet=True)
    assert sorted(ft_res["computed"]) == ["a"]
    # and back: the default flow recomputes a in flow, superpixels and features; a's graph
    # was never rebuilt on the other flow, and its inputs are again those it was built on
    assert _build(ds) == _expect(flow=["a"], sp=["a"], ft=["a"])


# --------------------------------------------------------------------------- own-video cache
def test_own_video_cache_key_covers_content_params_and_code(tmp_path, monkeypatch):
    clip = tmp_path / "clip"
    clip.mkdir()
    for t, f in enumerate(_frames(3)):
        cv2.imwrite(str(clip / f"{t:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    p = prep_cache.PrepParams(work_height=None)
    key = prep_cache.cache_key(open_video(clip), p)
    copy = tmp_path / "elsewhere" / "clip"
    copy.parent.mkdir()
    import shutil

    shutil.copytree(clip, copy)
    assert prep_cache.cache_key(open_video(copy), p) == key  # same content, other place
    changed = {
        "params": prep_cache.cache_key(open_video(clip), prep_cache.PrepParams(
            work_height=None, min_flow_weight=0.1)),
        "superpixels": prep_cache.cache_key(open_video(clip), prep_cache.PrepParams(
            work_height=None, superpixels=SuperpixelParams(n_segments=300))),
    }  # fmt: skip
    for module, name in ((superpixels, "STAGE_VERSION"), (features, "STAGE_VERSION"),
                         (graphs, "STAGE_VERSION"), (flow_store, "FORMAT_VERSION"),
                         (store_base, "FORMAT_VERSION")):  # fmt: skip
        with monkeypatch.context() as m:
            m.setattr(module, name, getattr(module, name) + 100)
            changed[f"{module.__name__}.{name}"] = prep_cache.cache_key(open_video(clip), p)
    frame = cv2.imread(str(clip / "00001.png"))
    cv2.imwrite(str(clip / "00001.png"), 255 - frame)  # same size and count
    changed["frame"] = prep_cache.cache_key(open_video(clip), p)
    assert all(v != key for v in changed.values()), changed
    assert len(set(changed.values())) == len(changed)


def test_own_video_cache_recomputes_a_changed_video(tmp_path):
    clip = tmp_path / "clip"
    clip.mkdir()
    for t, f in enumerate(_frames(4)):
        cv2.imwrite(str(clip / f"{t:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    p = prep_cache.PrepParams(work_height=None)
    first = prep_cache.prepare(open_video(clip), p, root=tmp_path / "cache")
    again = prep_cache.prepare(open_video(clip), p, root=tmp_path / "cache")
    assert not first.cached and again.cached and again.dir == first.dir
    frame = cv2.imread(str(clip / "00002.png"))
    cv2.imwrite(str(clip / "00002.png"), 255 - frame)
    third = prep_cache.prepare(open_video(clip), p, root=tmp_path / "cache")
    assert not third.cached and third.dir != first.dir
    a = open_superpixels(first.dir / "superpixels.zarr", prep_cache.SEQUENCE).local(2)
    b = open_superpixels(third.dir / "superpixels.zarr", prep_cache.SEQUENCE).local(2)
    assert not np.array_equal(a, b) or not np.array_equal(
        flow_store.open_flow(first.dir / "flow.zarr", "video").forward(1),
        flow_store.open_flow(third.dir / "flow.zarr", "video").forward(1))  # fmt: skip
