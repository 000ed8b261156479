"""Flow store (zarr v3): round trip, float16 error, atomic groups, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import zarr

from gnnannot.errors import DataError
from gnnannot.store import flow as flow_store
from gnnannot.store.flow import FlowWriter, is_up_to_date, list_videos, open_flow
from gnnannot.store.guard import clean_temporaries

H, W = 24, 40


def _video(n_pairs: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "forward": rng.normal(0, 10, (n_pairs, H, W, 2)).astype(np.float32),
        "backward": rng.normal(0, 10, (n_pairs, H, W, 2)).astype(np.float32),
        "occ_forward": rng.random((n_pairs, H, W)) < 0.1,
        "occ_backward": rng.random((n_pairs, H, W)) < 0.1,
    }


def _write(store: Path, seq: str, data: dict[str, np.ndarray], **kw) -> None:
    n = data["forward"].shape[0]
    with FlowWriter(store, seq, n + 1, H, W, "dis", {"preset": "fast"}, **kw) as wr:
        for t in range(n):
            wr.write(*(data[k][t] for k in flow_store.ARRAYS))


def _files(path: Path) -> list[Path]:
    return [Path(r) / f for r, _, fs in os.walk(path) for f in fs]


def test_round_trip_float16_and_file_count(tmp_path: Path) -> None:
    store = tmp_path / "flow.zarr"
    data = _video(9)
    _write(store, "bear", data, shard_pairs=4, dtype="float16")
    fv = open_flow(store, "bear")
    assert (fv.n_pairs, fv.n_frames, fv.shape) == (9, 10, (H, W))
    assert fv.method == "dis" and fv.params == {"preset": "fast"}
    for t in range(9):
        f = fv.forward(t)
        assert f.dtype == np.float32 and f.shape == (H, W, 2)
        # float16 rounding: relative error <= 2**-11 (|v| * 2**-12 up to subnormals)
        bound = np.abs(data["forward"][t]) * 2.0**-11 + 1e-7
        assert (np.abs(f - data["forward"][t]) <= bound).all()
        assert np.array_equal(f, data["forward"][t].astype(np.float16).astype(np.float32))
        assert np.array_equal(fv.occ_forward(t), data["occ_forward"][t])
        assert np.array_equal(fv.occ_backward(t), data["occ_backward"][t])
    assert np.array_equal(fv.read("backward", 2, 5),
                          data["backward"][2:5].astype(np.float16).astype(np.float32))
    # 9 pairs in flow shards of 4 -> 3 files per flow array, 1 per occlusion array, plus
    # one zarr.json per node
    files = _files(store / "bear")
    assert len([f for f in files if f.name != "zarr.json"]) == 2 * 3 + 2
    assert len(files) == 2 * 3 + 2 + 5
    with pytest.raises(IndexError):
        fv.forward(9)


def test_quantized_default_error_bound(tmp_path: Path) -> None:
    data = _video(3)
    data["forward"][0, 0, 0] = (300.0, -1000.3)  # large values: no range limit
    _write(tmp_path / "s.zarr", "v", data)
    fv = open_flow(tmp_path / "s.zarr", "v")
    assert fv.attrs["dtype"] == "quantized" and fv.dtype == np.float32
    for t in range(3):
        err = np.abs(fv.forward(t) - data["forward"][t])
        assert err.max() <= flow_store.QUANT_STEP / 2 + 1e-4
        assert np.array_equal(fv.forward(t) * 128, np.round(fv.forward(t) * 128))


def test_float32_is_lossless(tmp_path: Path) -> None:
    data = _video(3)
    _write(tmp_path / "s.zarr", "v", data, dtype="float32")
    fv = open_flow(tmp_path / "s.zarr", "v")
    assert np.array_equal(fv.backward(1), data["backward"][1])


def test_failed_writer_leaves_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    data = _video(4)
    with pytest.raises(RuntimeError), FlowWriter(store, "v", 5, H, W, "dis", {}) as wr:
        wr.write(*(data[k][0] for k in flow_store.ARRAYS))
        raise RuntimeError("killed")
    assert list_videos(store, complete_only=False) == []
    assert [p.name for p in store.iterdir()] == ["zarr.json"]
    # too few pairs written -> error, no group
    with pytest.raises(DataError, match="expected 4 frame pairs, 1 were written"):
        with FlowWriter(store, "v", 5, H, W, "dis", {}) as wr:
            wr.write(*(data[k][0] for k in flow_store.ARRAYS))
    with pytest.raises(DataError, match="not found"):
        open_flow(store, "v")


def test_replacing_a_group_keeps_it_valid(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    _write(store, "v", _video(2, seed=1))
    new = _video(2, seed=2)
    _write(store, "v", new, dtype="float32")
    assert np.array_equal(open_flow(store, "v").forward(1), new["forward"][1])
    assert sorted(p.name for p in store.iterdir()) == ["v", "zarr.json"]


def test_incomplete_group_is_missing(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    _write(store, "v", _video(2))
    grp = zarr.open_group(str(store / "v"), mode="a")
    grp.attrs["complete"] = False  # what a killed in-place writer would leave
    with pytest.raises(DataError, match="incomplete"):
        open_flow(store, "v")
    assert list_videos(store) == []
    assert not is_up_to_date(store, "v", method="dis", params={"preset": "fast"},
                             n_frames=3, height=H, width=W)


def test_is_up_to_date(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    _write(store, "v", _video(2))
    key = dict(method="dis", params={"preset": "fast"}, n_frames=3, height=H, width=W)
    assert is_up_to_date(store, "v", **key)
    assert not is_up_to_date(store, "v", **{**key, "params": {"preset": "medium"}})
    assert not is_up_to_date(store, "v", **{**key, "n_frames": 4})
    assert not is_up_to_date(store, "w", **key)


def test_missing_and_corrupt_data_errors(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    with pytest.raises(DataError, match="flow store not found"):
        open_flow(store, "v")
    _write(store, "v", _video(3), shard_pairs=1)
    with pytest.raises(DataError, match="group 'x' not found"):
        open_flow(store, "x")
    # corrupt one shard file of 'backward'
    shard = sorted(p for p in _files(store / "v" / "backward") if p.name != "zarr.json")[1]
    shard.write_bytes(b"garbage" * 10)
    fv = open_flow(store, "v")
    fv.backward(0)
    with pytest.raises(DataError, match=r"group 'v', array 'backward'"):
        fv.backward(1)
    # delete an array
    import shutil

    shutil.rmtree(store / "v" / "occ_forward")
    with pytest.raises(DataError, match="array 'occ_forward' missing"):
        open_flow(store, "v")


def test_clean_temporaries(tmp_path: Path) -> None:
    """Only temporaries of dead writers go; a live writer's (here: this process's) stays."""
    import os
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    store = flow_store.ensure_store(tmp_path / "s.zarr")
    (store / f".tmp-v-{dead.pid}-abc").mkdir()
    (store / f".old-v-{dead.pid}-abd").mkdir()
    (store / f".tmp-v-{os.getpid()}-abe").mkdir()
    assert clean_temporaries(store) == [f".old-v-{dead.pid}-abd",
                                                   f".tmp-v-{dead.pid}-abc"]  # fmt: skip
    assert not (store / f".tmp-v-{dead.pid}-abc").exists()
    assert (store / f".tmp-v-{os.getpid()}-abe").is_dir()


def test_shape_mismatch_on_write(tmp_path: Path) -> None:
    with FlowWriter(tmp_path / "s.zarr", "v", 2, H, W, "dis", {}) as wr:
        with pytest.raises(DataError, match=r"expected shape \(24, 40, 2\)"):
            wr.write(np.zeros((H, W + 1, 2)), np.zeros((H, W, 2)), np.zeros((H, W), bool),
                     np.zeros((H, W), bool))
        wr.write(np.zeros((H, W, 2)), np.zeros((H, W, 2)), np.zeros((H, W), bool),
                 np.zeros((H, W), bool))
