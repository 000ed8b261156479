"""Seed .h5 flow format: strict import validation, streaming, export and round trip."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from gnnannot.errors import DataError
from gnnannot.preprocess.flow.h5 import find_h5, iter_h5
from gnnannot.store.flow import open_flow
from gnnannot.store.flow_h5 import export_h5, import_h5

H, W, T = 24, 40, 5


def _data(n_pairs: int = T - 1, h: int = H, w: int = W, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "flows": rng.normal(0, 8, (n_pairs, h, w, 2)).astype(np.float32),
        "inv_flows": rng.normal(0, 8, (n_pairs, h, w, 2)).astype(np.float32),
        "occls": rng.random((n_pairs, h, w)) < 0.1,
        "inv_occls": rng.random((n_pairs, h, w)) < 0.1,
    }


def _write_h5(path: Path, data: dict[str, np.ndarray], chunked: bool = True) -> Path:
    with h5py.File(path, "w") as h5:
        for key, value in data.items():
            chunks = (1, *value.shape[1:]) if chunked and value.ndim >= 3 else None
            h5.create_dataset(key, data=value, chunks=chunks,
                              compression="gzip" if chunks else None)
    return path


def test_import_matches_file(tmp_path: Path) -> None:
    data = _data()
    src = _write_h5(tmp_path / "flownet2_bear.h5", data)
    assert find_h5(tmp_path, "bear") == src
    fv = import_h5(src, tmp_path / "flow.zarr", "bear", T, H, W)
    assert fv.method == "h5" and fv.params["source"] == "flownet2_bear.h5"
    for t in range(T - 1):
        assert np.array_equal(fv.forward(t), np.round(data["flows"][t] * 128) / 128)
        assert np.allclose(fv.backward(t), data["inv_flows"][t], atol=1 / 256 + 1e-5)
        assert np.array_equal(fv.occ_forward(t), data["occls"][t])
        assert np.array_equal(fv.occ_backward(t), data["inv_occls"][t])


def test_float16_seed_files_are_accepted(tmp_path: Path) -> None:
    data = _data()
    data["flows"] = data["flows"].astype(np.float16)
    src = _write_h5(tmp_path / "v.h5", data, chunked=False)
    pairs = list(iter_h5(src, T, H, W))
    assert len(pairs) == T - 1 and pairs[0].forward.dtype == np.float32


@pytest.mark.parametrize("dtype", ["quantized", "float32", "float16"])
def test_export_import_round_trip(tmp_path: Path, dtype: str) -> None:
    data = _data()
    store = tmp_path / "flow.zarr"
    import_h5(_write_h5(tmp_path / "a.h5", data), store, "a", T, H, W, dtype=dtype)
    out = export_h5((store, "a"), tmp_path / "out" / "a.h5")
    with h5py.File(out, "r") as h5:
        assert h5["flows"].dtype == np.float32 and h5["occls"].dtype == bool
        assert h5["flows"].shape == (T - 1, H, W, 2) and h5["inv_occls"].shape == (T - 1, H, W)
        exported = {k: h5[k][:] for k in data}
    if dtype == "quantized":
        expected_flow = np.round(data["flows"] * 128) / 128
    else:
        expected_flow = data["flows"].astype(dtype).astype(np.float32)
    assert np.array_equal(exported["flows"], expected_flow)
    assert np.array_equal(exported["occls"], data["occls"])
    # import(export(x)) == x exactly (in the storage dtype)
    a, b = open_flow(store, "a"), import_h5(out, store, "b", T, H, W, dtype=dtype)
    for t in range(T - 1):
        for key in ("forward", "backward", "occ_forward", "occ_backward"):
            assert np.array_equal(a.raw(key, t), b.raw(key, t))


def test_cli_export(tmp_path: Path) -> None:
    from gnnannot.cli.flow import app

    store = tmp_path / "flow.zarr"
    import_h5(_write_h5(tmp_path / "a.h5", _data()), store, "a", T, H, W)
    res = CliRunner().invoke(app, ["export", "a", "--store", str(store), "-o",
                                   str(tmp_path / "x"), "-q"])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "x" / "flownet2_a.h5", "r") as h5:
        assert set(h5) >= {"flows", "inv_flows", "occls", "inv_occls"}


# --------------------------------------------------------------------------- bad input
def _bad(tmp_path: Path, data: dict[str, np.ndarray]) -> Path:
    return _write_h5(tmp_path / "bad.h5", data)


def _expect(path: Path, pattern: str, n_frames: int = T, h: int = H, w: int = W) -> None:
    with pytest.raises(DataError, match=pattern):
        list(iter_h5(path, n_frames, h, w))


def test_missing_key(tmp_path: Path) -> None:
    data = _data()
    del data["inv_occls"]
    _expect(_bad(tmp_path, data), r"missing dataset 'inv_occls'")


def test_wrong_shape(tmp_path: Path) -> None:
    data = _data()
    data["inv_flows"] = np.zeros((T - 1, H, W, 3), np.float32)
    _expect(_bad(tmp_path, data),
            r"'inv_flows': expected shape \(4, 24, 40, 2\), found \(4, 24, 40, 3\)")
    data = _data()
    data["occls"] = np.zeros((T - 1, H, W, 1), bool)
    _expect(_bad(tmp_path, data), r"'occls': expected shape \(4, 24, 40\), found \(4, 24, 40, 1\)")


def test_wrong_dtype(tmp_path: Path) -> None:
    data = _data()
    data["flows"] = data["flows"].astype(np.int16)
    _expect(_bad(tmp_path, data), r"'flows': expected dtype float32, found int16")
    data = _data()
    data["inv_occls"] = data["inv_occls"].astype(np.uint8)
    _expect(_bad(tmp_path, data), r"'inv_occls': expected dtype bool, found uint8")


def test_frame_count_mismatch(tmp_path: Path) -> None:
    _expect(_bad(tmp_path, _data()), r"expected 5 frame pairs \(video has 6 frames\), found 4",
            n_frames=T + 1)


def test_wrong_resolution(tmp_path: Path) -> None:
    _expect(_bad(tmp_path, _data(h=12, w=20)), r"wrong resolution: expected 24x40 .*found 12x20")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(tmp_path: Path, bad: float) -> None:
    data = _data()
    data["inv_flows"][2, 5, 7, 1] = bad
    _expect(_bad(tmp_path, data),
            r"'inv_flows': non-finite value \(NaN/inf\) at pair 2, pixel \(y=5, x=7\)")


def test_not_hdf5_and_missing(tmp_path: Path) -> None:
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    _expect(tmp_path / "x.h5", "not a readable HDF5")
    _expect(tmp_path / "y.h5", "not found")
    with pytest.raises(DataError, match="no flow file for video 'z'"):
        find_h5(tmp_path, "z")


def test_failed_import_leaves_no_group(tmp_path: Path) -> None:
    data = _data()
    data["flows"][3, 0, 0, 0] = np.nan  # found only while streaming the last pair
    with pytest.raises(DataError):
        import_h5(_bad(tmp_path, data), tmp_path / "s.zarr", "v", T, H, W, shard_pairs=2)
    with pytest.raises(DataError, match="not found"):
        open_flow(tmp_path / "s.zarr", "v")


def test_import_streams(tmp_path: Path) -> None:
    # 40 pairs of 96x128: the file holds ~8 MB of arrays; streaming must stay far below
    n, h, w = 40, 96, 128
    data = _data(n, h, w)
    src = _write_h5(tmp_path / "big.h5", data)
    size = sum(v.nbytes for v in data.values())
    del data
    tracemalloc.start()
    import_h5(src, tmp_path / "s.zarr", "big", n + 1, h, w, shard_pairs=4, occ_shard_pairs=4)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < size / 4, (peak, size)
