"""Zarr stores of the superpixels/features/graphs stages: schema round trip, incremental
reruns, clear errors for missing/incomplete/corrupt groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from gnnannot.data import davis
from gnnannot.errors import DataError
from gnnannot.pipeline.executor import ProcessExecutor
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.runner import dataset_sequences
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.flow.frames import FrameFlows
from gnnannot.preprocess.graph import build_video_graph
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store.base import ShardReader, list_videos, shard_reader
from gnnannot.store.graphs import open_graph
from gnnannot.store.superpixels import SuperpixelWriter

H, W, T = 48, 64, 3
P = SuperpixelParams(n_segments=30)


def _frames(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(H // 8, W // 8, 3), dtype=np.uint8)
    img = np.kron(base, np.ones((8, 8, 1), np.uint8))
    return np.stack([np.roll(img, 2 * t, axis=1) for t in range(T)])


def _dataset(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        masks = np.zeros((T, H, W), np.uint8)
        masks[:, 8:24, 16:40] = 1
        davis.write_sequence(root, name, _frames(i), masks)
    davis.write_split(root, "train", names[:1])
    davis.write_split(root, "val", names[1:])


def _build(tmp: Path) -> dict[str, dict[str, list[str]]]:
    root, d = str(tmp / "davis"), tmp
    seqs = dataset_sequences(root)
    return {
        "sp": build_superpixel_store(root, str(d / "superpixels.zarr"), None, P, quiet=True),
        "ft": build_feature_store(root, str(d / "features.zarr"), str(d / "superpixels.zarr"),
                                  None, quiet=True),  # fmt: skip
        "gr": build_graph_store(str(d / "graphs.zarr"), str(d / "superpixels.zarr"),
                                str(d / "features.zarr"), None, seqs, quiet=True),  # fmt: skip
    }


@pytest.fixture()
def stores(tmp_path: Path) -> Path:
    _dataset(tmp_path / "davis", ["a", "b"])
    _build(tmp_path)
    return tmp_path


def test_round_trip_matches_in_memory(stores: Path) -> None:
    g = open_graph(stores / "graphs.zarr", "b")
    frames = davis.read_frames(stores / "davis", "b")
    ref = build_video_graph(frames, None, P, seq="b")
    np.testing.assert_array_equal(g.labels_all(), ref.labels_all())
    np.testing.assert_array_equal(g.labels(1), ref.labels(1))
    assert g.labels(1).dtype == np.int32 and g.labels_all().dtype == np.int32
    np.testing.assert_array_equal(g.frame_offsets, ref.frame_offsets)
    np.testing.assert_array_equal(g.edge_index, ref.edge_index)
    assert g.edge_index.dtype == np.int64 and g.edge_type.dtype == np.int8
    np.testing.assert_array_equal(g.edge_type, ref.edge_type)
    np.testing.assert_array_equal(g.node_pixel_count, ref.node_pixel_count)
    # float16 storage: relative precision ~1e-3
    np.testing.assert_allclose(g.node_features, ref.node_features, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(g.descriptors, ref.descriptors, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(g.edge_features, ref.edge_features, rtol=5e-3, atol=5e-3)
    np.testing.assert_allclose(g.edge_weight, ref.edge_weight, rtol=2e-3, atol=1e-3)
    assert g.node_feature_names == ref.node_feature_names
    assert g.edge_feature_names == ref.edge_feature_names
    assert g.node_features.dtype == np.float32 and g.node_frame.dtype == np.int32
    assert g.node_pixel_count.sum() == T * H * W


def test_incremental_rerun(stores: Path) -> None:
    again = _build(stores)
    assert all(r["computed"] == [] for r in again.values())
    _dataset(stores / "davis", ["a", "b", "c"])  # a new video in val
    res = _build(stores)
    assert all(r["computed"] == ["c"] for r in res.values())
    # frames of one video change: that video only, downstream too
    davis.write_sequence(stores / "davis", "a", _frames(9))
    res = _build(stores)
    assert all(r["computed"] == ["a"] for r in res.values())
    # a video leaves the dataset: its groups are removed
    davis.write_split(stores / "davis", "val", ["b"])
    res = _build(stores)
    assert all(r["removed"] == ["c"] for r in res.values())
    assert list_videos(stores / "graphs.zarr") == ["a", "b"]


def test_missing_and_incomplete_groups(stores: Path) -> None:
    with pytest.raises(DataError, match="no group for video 'zz'"):
        open_graph(stores / "graphs.zarr", "zz")
    with pytest.raises(DataError, match="store not found"):
        open_graph(stores / "nothing.zarr", "a")
    grp = zarr.open_group(str(stores / "features.zarr" / "a"), mode="a", zarr_format=3)
    grp.attrs["complete"] = False
    with pytest.raises(DataError, match="incomplete"):
        open_graph(stores / "graphs.zarr", "a")
    # the stage recomputes an incomplete group
    res = _build(stores)
    assert res["ft"]["computed"] == ["a"]


def test_corrupt_group_clear_error(stores: Path) -> None:
    labels_dir = stores / "superpixels.zarr" / "a" / "labels"
    shutil.rmtree(labels_dir / "c")  # the shard files
    # a missing shard would read as fill values in zarr: every chunk is written, so it is
    # damage, named at open
    with pytest.raises(DataError, match=r"damaged .*array 'labels': 1 chunk file\(s\) missing"):
        open_graph(stores / "graphs.zarr", "a", check_fingerprints=False)
    # corrupt bytes must raise at read
    (labels_dir / "c").mkdir()
    (labels_dir / "c" / "0").mkdir()
    (labels_dir / "c" / "0" / "0").mkdir()
    (labels_dir / "c" / "0" / "0" / "0").write_bytes(b"garbage" * 10)
    g = open_graph(stores / "graphs.zarr", "a", check_fingerprints=False)
    with pytest.raises(DataError, match="labels"):
        g.labels(0)
    (stores / "graphs.zarr" / "b" / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable"):
        open_graph(stores / "graphs.zarr", "b")
    shutil.rmtree(stores / "graphs.zarr" / "a" / "edge_features")
    with pytest.raises(DataError, match="edge_features"):
        open_graph(stores / "graphs.zarr", "a")


def test_stale_graph_detected(stores: Path) -> None:
    grp = zarr.open_group(str(stores / "features.zarr" / "a"), mode="a", zarr_format=3)
    grp.attrs["fingerprint"] = "other"
    with pytest.raises(DataError, match="rerun the 'graphs' stage"):
        open_graph(stores / "graphs.zarr", "a")


def test_killed_writer_leaves_no_complete_group(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    with pytest.raises(RuntimeError):
        with SuperpixelWriter(store, "v", 2, 4, 4, {"fingerprint": "x"}) as wr:
            wr.write(np.zeros((4, 4), np.int32), 1)
            raise RuntimeError("killed")
    assert list_videos(store, complete_only=False) == []
    with pytest.raises(DataError, match="1 of 2 frames"):
        with SuperpixelWriter(store, "v", 2, 4, 4, {"fingerprint": "x"}) as wr:
            wr.write(np.zeros((4, 4), np.int32), 1)
    assert not any(p.name.startswith(".tmp") for p in store.iterdir())


def test_worker_processes_give_same_stores(stores: Path) -> None:
    root, d = str(stores / "davis"), stores / "par"
    seqs = dataset_sequences(root)
    build_superpixel_store(root, str(d / "superpixels.zarr"), None, P,
                           executor=ProcessExecutor(2), quiet=True)
    build_feature_store(root, str(d / "features.zarr"), str(d / "superpixels.zarr"), None,
                        executor=ProcessExecutor(2), quiet=True)  # fmt: skip
    build_graph_store(str(d / "graphs.zarr"), str(d / "superpixels.zarr"),
                      str(d / "features.zarr"), None, seqs, executor=ProcessExecutor(2),
                      quiet=True)  # fmt: skip
    for seq in seqs:
        a = open_graph(stores / "graphs.zarr", seq)
        b = open_graph(d / "graphs.zarr", seq)
        np.testing.assert_array_equal(a.labels_all(), b.labels_all())
        np.testing.assert_array_equal(a.node_features, b.node_features)
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
        np.testing.assert_array_equal(a.edge_index, b.edge_index)
        np.testing.assert_array_equal(a.edge_features, b.edge_features)


@pytest.mark.parametrize(
    ("dtype", "tail"), [(np.float32, (2,)), (np.float16, (2,)), (np.bool_, ()), (np.uint16, ())]
)
def test_shard_reader_matches_zarr(tmp_path: Path, dtype: type, tail: tuple[int, ...]) -> None:
    from zarr.codecs import BloscCodec

    rng = np.random.default_rng(0)
    shape = (7, 5, 6, *tail)  # 3 shards of 3 frames, the last one partial
    data = (rng.random(shape) * 300).astype(dtype)
    arr = zarr.create_array(
        str(tmp_path / "a"), shape=shape, dtype=dtype, chunks=(1, *shape[1:]),
        shards=(3, *shape[1:]), compressors=BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
        fill_value=0,
    )  # fmt: skip
    arr[:6] = data[:6]  # frame 6 never written: reads as the fill value
    reader = shard_reader(tmp_path / "a")
    assert reader is not None
    ref = np.asarray(arr[...])
    for t in range(shape[0]):
        got = reader._read_fast(t)
        assert got is not None and got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref[t])
    np.testing.assert_array_equal(reader.read_all(), ref)
    with pytest.raises(IndexError):
        reader.read(7)
    # a corrupt shard index (CRC mismatch) falls back to zarr, which reports the damage
    shard = tmp_path / "a" / "c" / "1" / "0" / "0" / ("0" if tail else "")
    shard = shard if shard.is_file() else shard.parent
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF
    shard.write_bytes(bytes(raw))
    assert shard_reader(tmp_path / "a")._read_fast(3) is None  # type: ignore[union-attr]
    # unsupported layouts (no sharding) get no fast reader
    plain = zarr.create_array(str(tmp_path / "b"), shape=(4, 3), dtype=np.float32, chunks=(2, 3))
    assert ShardReader.create(plain) is None
    assert shard_reader(tmp_path / "missing") is None


def test_frame_flows_fast_path_matches_flow_store(tmp_path: Path) -> None:
    from gnnannot.store.flow import FlowWriter, open_flow

    rng = np.random.default_rng(1)
    n, h, w = 5, 12, 16
    with FlowWriter(tmp_path / "flow.zarr", "v", n, h, w, "test", {}, shard_pairs=3,
                    occ_shard_pairs=2) as wr:  # fmt: skip
        for _ in range(n - 1):
            wr.write(*(rng.normal(0, 3, (h, w, 2)).astype(np.float32) for _ in range(2)),
                     *(rng.random((h, w)) < 0.3 for _ in range(2)))  # fmt: skip
    fv = open_flow(tmp_path / "flow.zarr", "v")
    ff = FrameFlows(fv, n)
    for key in ("forward", "backward", "occ_forward", "occ_backward"):
        assert ff._reader(key) is not None
        for t in range(n - 1):
            got, ref = ff._get(key, t), getattr(fv, key)(t)
            assert got is not None and got.dtype == ref.dtype
            np.testing.assert_array_equal(got, ref)
    assert ff.fwd(n - 1) is None and ff.bwd(0) is None


def test_process_pool_largest_first_keeps_result_order() -> None:
    jobs = [(i,) for i in range(5)]
    out = ProcessExecutor(2).run(_square, jobs, description="test", quiet=True,
                                 sizes=[1, 5, 2, 9, 3])
    assert out == [0, 1, 4, 9, 16]


def _square(x: int) -> int:
    return x * x
