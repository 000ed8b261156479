"""Flow stage / build_flow_store on a tiny DAVIS-layout dataset: incremental recompute,
pruning, h5 import, and the stage's params handling."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.store.flow import list_videos, open_flow

H, W = 48, 64


def _dataset(root: Path, names: tuple[str, ...] = ("a", "b"), n: int = 3) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        base = cv2.GaussianBlur(rng.random((H + 20, W + 20)).astype(np.float32), (0, 0), 2)
        base = (base / base.max() * 255).astype(np.uint8)
        for t in range(n):
            frame = np.repeat(base[10 - t : 10 - t + H, 10:10 + W, None], 3, axis=2)
            davis.write_frame(davis.images_dir(root, name) / f"{t:05d}.jpg", frame)


def test_incremental_and_prune(tmp_path: Path) -> None:
    root, store = tmp_path / "davis", tmp_path / "flow.zarr"
    _dataset(root)
    res = build_flow_store(str(root), str(store), preset="ultrafast", quiet=True)
    assert res == {"computed": ["a", "b"], "kept": [], "removed": []}
    fv = open_flow(store, "a")
    assert (fv.n_pairs, fv.shape) == (2, (H, W))
    assert np.median(fv.forward(0)[8:-8, 8:-8, 0]) == pytest.approx(1, abs=0.3)  # moves down
    res = build_flow_store(str(root), str(store), preset="ultrafast", quiet=True)
    assert res["computed"] == [] and res["kept"] == ["a", "b"]
    res = build_flow_store(str(root), str(store), preset="fast", quiet=True)
    assert res["computed"] == ["a", "b"]
    assert open_flow(store, "b").params["preset"] == "fast"
    # a video removed from the dataset is pruned; a new frame recomputes only that video
    import shutil

    shutil.rmtree(davis.images_dir(root, "b"))
    _dataset(root, ("a",), n=4)
    res = build_flow_store(str(root), str(store), preset="fast", quiet=True)
    assert res == {"computed": ["a"], "kept": [], "removed": ["b"]}
    assert list_videos(store) == ["a"] and open_flow(store, "a").n_pairs == 3


def test_h5_method(tmp_path: Path) -> None:
    root, store, h5_dir = tmp_path / "davis", tmp_path / "flow.zarr", tmp_path / "h5"
    _dataset(root, ("a",))
    h5_dir.mkdir()
    with h5py.File(h5_dir / "flownet2_a.h5", "w") as h5:
        h5["flows"] = np.full((2, H, W, 2), 0.5, np.float32)
        h5["inv_flows"] = np.zeros((2, H, W, 2), np.float32)
        h5["occls"] = np.zeros((2, H, W), bool)
        h5["inv_occls"] = np.ones((2, H, W), bool)
    res = build_flow_store(str(root), str(store), method="h5", h5_dir=str(h5_dir), quiet=True)
    assert res["computed"] == ["a"]
    fv = open_flow(store, "a")
    assert fv.method == "h5" and np.all(fv.forward(1) == 0.5) and fv.occ_backward(0).all()
    res = build_flow_store(str(root), str(store), method="h5", h5_dir=str(h5_dir), quiet=True)
    assert res["kept"] == ["a"]
    with pytest.raises(ConfigError, match="h5_dir"):
        build_flow_store(str(root), str(store), method="h5", quiet=True)
    with pytest.raises(DataError, match="no flow file for video 'a'"):
        build_flow_store(str(root), str(store), method="h5", h5_dir=str(tmp_path), quiet=True)


def test_stage_reads_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stages import flow as stage

    root = tmp_path / "davis"
    _dataset(root, ("a",))
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(root="davis", out="data/flow.zarr", quiet=True)
    params = {
        "flow": {"method": "dis", "preset": "ultrafast", "scale": 1, "h5_dir": "",
                 "dtype": "float16"},
    }
    stage.run(params, args)
    assert list_videos(tmp_path / "data" / "flow.zarr") == ["a"]
    params["flow"]["preset"] = "slow"
    with pytest.raises(ConfigError, match="flow.preset"):
        stage.run(params, args)
