"""gnnannot.store.base on its own: fingerprints against hashlib computed here, the store
level (ensure/list/prune), the writer's checks and the fast shard reader against zarr's
own reads (issue 19: the module's mutants; docs/mutation.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from gnnannot.errors import DataError
from gnnannot.store import base
from gnnannot.store.guard import ARRAY_CONFIG, compressors


# ------------------------------------------------------------------------ fingerprints
def test_fingerprint_is_sha256_of_sorted_json_of_the_parts() -> None:
    parts = ({"b": 1, "a": [1, 2.5, None]}, "x", (3, 4))
    blob = b'[{"a": [1, 2.5, null], "b": 1}, "x", [3, 4]]'  # written by hand
    assert base.fingerprint(*parts) == hashlib.sha256(blob).hexdigest()[:16]
    assert len(base.fingerprint()) == 16
    # key order and tuple/list do not matter; values, order of parts and types do
    assert base.fingerprint({"a": 1, "b": 2}) == base.fingerprint({"b": 2, "a": 1})
    assert base.fingerprint((1, 2)) == base.fingerprint([1, 2])
    assert base.fingerprint(1, 2) != base.fingerprint(2, 1)
    assert base.fingerprint({"a": 1}) != base.fingerprint({"a": 2})
    assert base.fingerprint(1) != base.fingerprint("1")


def test_files_digest_is_blake2b_of_names_and_contents(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"alpha")
    b.write_bytes(b"beta")
    ref = hashlib.blake2b(b"a.png\0alpha" b"b.png\0beta", digest_size=8).hexdigest()
    assert base.files_digest([a, b]) == ref
    assert base.files_digest([str(a), str(b)]) == ref
    assert base.files_digest([]) == hashlib.blake2b(b"", digest_size=8).hexdigest()
    assert base.files_digest([b, a]) != ref  # order counts
    b.write_bytes(b"betb")  # content counts, same size
    assert base.files_digest([a, b]) != ref
    b.write_bytes(b"beta")
    c = tmp_path / "c.png"
    b.rename(c)  # name counts, same content
    assert base.files_digest([a, c]) != ref
    # the name/content separator: moving a byte across the boundary changes the digest
    (tmp_path / "x").write_bytes(b"yz")
    (tmp_path / "xy").write_bytes(b"z")
    assert base.files_digest([tmp_path / "x"]) != base.files_digest([tmp_path / "xy"])


# ------------------------------------------------------------------------ store level
def test_ensure_store_root_attrs_and_schema_check(tmp_path: Path) -> None:
    s = tmp_path / "s.zarr"
    assert base.ensure_store(s, "graphs", params={"k": (1, 2)}) == s
    attrs = dict(zarr.open_group(str(s), mode="r").attrs)
    assert attrs == {"schema": "gnnannot.graphs", "format_version": base.FORMAT_VERSION,
                     "params": {"k": [1, 2]}}  # fmt: skip
    # changed attrs are written; the same ones leave zarr.json untouched
    base.ensure_store(s, "graphs", params={"k": 3})
    assert dict(zarr.open_group(str(s), mode="r").attrs)["params"] == {"k": 3}
    before = (s / "zarr.json").stat().st_mtime_ns, (s / "zarr.json").read_bytes()
    base.ensure_store(s, "graphs", params={"k": 3})
    assert ((s / "zarr.json").stat().st_mtime_ns, (s / "zarr.json").read_bytes()) == before
    # a store of another kind is refused, naming both
    with pytest.raises(DataError, match=r"'gnnannot\.graphs', expected 'gnnannot\.features'"):
        base.ensure_store(s, "features")
    # missing parent folders are created (a store path in a fresh data folder)
    deep = tmp_path / "new" / "data" / "graphs.zarr"
    base.ensure_store(deep, "graphs")
    assert dict(zarr.open_group(str(deep), mode="r").attrs)["schema"] == "gnnannot.graphs"
    # kind None: a plain root group, no attrs; an existing one is kept as it is
    base.ensure_store(tmp_path / "new2" / "flow.zarr", None)
    assert (tmp_path / "new2" / "flow.zarr" / "zarr.json").is_file()
    f = tmp_path / "flow.zarr"
    assert base.ensure_store(f, None) == f
    assert (f / "zarr.json").is_file() and dict(zarr.open_group(str(f), mode="r").attrs) == {}
    zarr.open_group(str(f), mode="a").attrs["mine"] = 1
    base.ensure_store(f, None)
    assert dict(zarr.open_group(str(f), mode="r").attrs) == {"mine": 1}


def _video(store: Path, seq: str, fp: str = "f", n: int = 3) -> None:
    with base.group_writer(store, seq, {"fingerprint": fp}) as grp:
        base.write_rows(grp, "x", np.arange(n, dtype=np.int32))


def test_list_videos_group_attrs_remove_and_prune(tmp_path: Path) -> None:
    s = tmp_path / "s.zarr"
    assert base.list_videos(s) == []  # no store yet
    base.ensure_store(s, "graphs")
    for seq in ("b", "a", "c"):
        _video(s, seq)
    zarr.open_group(str(s / "c"), mode="a").attrs["complete"] = False  # killed writer
    zarr.open_group(str(s / ".tmp-d-1-x"), mode="w")  # a temporary: never a video
    (s / "e").mkdir()  # a directory without zarr.json
    (s / "f").write_text("")  # a file
    assert base.list_videos(s) == ["a", "b"]
    assert base.list_videos(s, complete_only=False) == ["a", "b", "c"]
    assert base.group_attrs(s, "a")["fingerprint"] == "f"
    assert base.group_attrs(s, "e") is None and base.group_attrs(s, "zz") is None
    assert base.prune(s, ["a", "zz"]) == ["b", "c"]
    assert base.list_videos(s, complete_only=False) == ["a"]
    assert (s / "e").is_dir() and (s / "f").is_file()  # not groups: left alone
    assert base.remove_video(s, "a") is True and base.remove_video(s, "a") is False
    assert not (s / "a").exists()


def test_is_up_to_date_needs_every_condition(tmp_path: Path) -> None:
    s = tmp_path / "s.zarr"
    base.ensure_store(s, "graphs")
    _video(s, "v", fp="abc")
    assert base.is_up_to_date(s, "v", "abc")
    assert not base.is_up_to_date(s, "v", "abd")
    assert not base.is_up_to_date(s, "w", "abc")
    grp = zarr.open_group(str(s / "v"), mode="a")
    for key, bad in [("complete", "yes"), ("format_version", base.FORMAT_VERSION - 1),
                     ("arrays", [])]:  # fmt: skip
        good = grp.attrs[key]
        grp.attrs[key] = bad
        assert not base.is_up_to_date(s, "v", "abc"), key
        grp.attrs[key] = good
        assert base.is_up_to_date(s, "v", "abc")
    next((s / "v" / "x" / "c").iterdir()).unlink()  # a chunk file gone
    assert not base.is_up_to_date(s, "v", "abc")


# ------------------------------------------------------------------------ writes
@pytest.mark.parametrize("seq", ["", ".hidden", "a/b", "a\\b"])
def test_group_writer_refuses_bad_names(tmp_path: Path, seq: str) -> None:
    base.ensure_store(tmp_path, "graphs")
    with pytest.raises(DataError, match="invalid video name"):
        with base.group_writer(tmp_path, seq, {}):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zarr.json"]


def test_group_writer_installs_checks_and_cleans_up(tmp_path: Path) -> None:
    s = tmp_path / "s.zarr"
    base.ensure_store(s, "graphs")
    with base.group_writer(s, "v", {"fingerprint": "one", "n": (1, 2)}, ("x",)) as grp:
        base.write_rows(grp, "x", np.arange(5))
        base.write_rows(grp, "y", np.ones((2, 3)), dtype=np.uint8)
        assert dict(grp.attrs)["complete"] is False  # until the end
        assert not (s / "v").exists()
    attrs = base.group_attrs(s, "v")
    assert attrs == {"fingerprint": "one", "n": [1, 2], "format_version": base.FORMAT_VERSION,
                     "complete": True, "arrays": ["x", "y"]}  # fmt: skip
    assert sorted(p.name for p in s.iterdir()) == ["v", "zarr.json"]  # no temporaries left
    # replacing it: the new group is installed, the old one and its aside copy are gone
    with base.group_writer(s, "v", {"fingerprint": "two"}) as grp:
        base.write_rows(grp, "z", np.arange(2))
    assert base.group_attrs(s, "v")["fingerprint"] == "two"
    assert sorted(p.name for p in (s / "v").iterdir()) == ["z", "zarr.json"]
    assert sorted(p.name for p in s.iterdir()) == ["v", "zarr.json"]
    # a required array missing, no array at all, an exception: nothing stored or left
    with pytest.raises(DataError, match=r"s\.zarr/w: the written group is damaged \(.*'q'"):
        with base.group_writer(s, "w", {}, ("q",)) as grp:
            base.write_rows(grp, "x", np.arange(2))
    with pytest.raises(DataError, match=r"damaged \(no arrays\); not stored"):
        with base.group_writer(s, "w", {}):
            pass
    with pytest.raises(KeyboardInterrupt):
        with base.group_writer(s, "w", {}) as grp:
            base.write_rows(grp, "x", np.arange(2))
            raise KeyboardInterrupt
    assert sorted(p.name for p in s.iterdir()) == ["v", "zarr.json"]


def test_write_rows_chunks_dtype_and_values(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(base, "ROW_CHUNK", 4)
    grp = zarr.open_group(str(tmp_path / "g"), mode="w", zarr_format=3)
    data = np.arange(30, dtype=np.float64).reshape(10, 3) / 4
    base.write_rows(grp, "a", data)
    base.write_rows(grp, "b", data, dtype=np.int16)
    base.write_rows(grp, "c", np.arange(2))
    base.write_rows(grp, "e", np.zeros((0, 3), np.float32))
    a, b, c, e = (grp[k] for k in "abce")
    assert a.chunks == (4, 3) and b.chunks == (4, 3) and c.chunks == (2,) and e.chunks == (1, 3)
    assert a.dtype == np.float64 and b.dtype == np.int16 and e.shape == (0, 3)
    np.testing.assert_array_equal(a[...], data)
    np.testing.assert_array_equal(b[...], data.astype(np.int16))  # truncated, as astype does
    assert a.metadata.fill_value == 0
    # every chunk is a file (10 rows / 4 = 3 chunks), each with the project's codecs
    assert len(list((tmp_path / "g" / "a" / "c").iterdir())) == 3
    names = [type(x).__name__ for x in a.metadata.codecs]
    assert names[-2:] == ["BloscCodec", "Crc32cCodec"]


# ------------------------------------------------------------------------ reads
def test_open_video_group_and_read_array_name_what_is_wrong(tmp_path: Path) -> None:
    s = tmp_path / "s.zarr"
    with pytest.raises(DataError, match=r"s\.zarr: graphs store not found \(run the 'graphs'"):
        base.open_video_group(s, "v", "graphs")
    base.ensure_store(s, "graphs")
    with pytest.raises(DataError, match=r"no group for video 'v' \(run the 'graphs' stage\)"):
        base.open_video_group(s, "v", "graphs")
    _video(s, "v", n=5)
    grp = base.open_video_group(s, "v", "graphs")
    np.testing.assert_array_equal(base.read_array(grp, "x", "here"), np.arange(5))
    np.testing.assert_array_equal(base.read_array(grp, "x", "here", slice(1, 3)), [1, 2])
    with pytest.raises(DataError, match=r"^here: array 'nope' missing"):
        base.read_array(grp, "nope", "here")
    with pytest.raises(IndexError):
        base.read_array(grp, "x", "here", 7)
    g = zarr.open_group(str(s / "v"), mode="a")
    g.attrs["format_version"] = 1
    with pytest.raises(DataError, match=r"format_version 1, expected 2; rerun the 'graphs'"):
        base.open_video_group(s, "v", "graphs")
    g.attrs["format_version"] = base.FORMAT_VERSION
    g.attrs["complete"] = None
    with pytest.raises(DataError, match=r"'v' is incomplete \(complete attr is None\)"):
        base.open_video_group(s, "v", "graphs")
    g.attrs["complete"] = True
    del g.attrs["arrays"]  # a group written before the "arrays" attr: nothing to check
    assert base.open_video_group(s, "v", "graphs").attrs["complete"] is True
    g.attrs["arrays"] = ["x"]
    chunk = next((s / "v" / "x" / "c").iterdir())
    chunk.write_bytes(chunk.read_bytes()[:-1] + b"\0")  # a corrupt chunk: CRC fails on read
    grp = base.open_video_group(s, "v", "graphs")
    with pytest.raises(DataError, match=r"^here: array 'x' cannot be read"):
        base.read_array(grp, "x", "here")
    chunk.unlink()
    with pytest.raises(DataError, match=r"group 'v' is damaged \(.*\); rerun the 'graphs'"):
        base.open_video_group(s, "v", "graphs")
    (s / "v" / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match=r"group 'v' is unreadable \(.*delete it and rerun"):
        base.open_video_group(s, "v", "graphs")


def _sharded(path: Path, shape: tuple[int, ...], shard: int, dtype=np.float32, crc=True):
    codecs = compressors() if crc else (BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),)
    return zarr.create_array(
        str(path), shape=shape, dtype=dtype, chunks=(1, *shape[1:]),
        shards=(shard, *shape[1:]), compressors=codecs, fill_value=7,
        config=ARRAY_CONFIG if crc else None,
    )  # fmt: skip


@pytest.mark.parametrize("crc", [True, False])
def test_shard_reader_reads_what_zarr_reads(tmp_path: Path, crc: bool) -> None:
    rng = np.random.default_rng(3)
    shape = (7, 4, 5, 2)
    data = rng.normal(size=shape).astype(np.float32)
    arr = _sharded(tmp_path / "a", shape, 3, crc=crc)
    arr[...] = data
    reader = base.shard_reader(tmp_path / "a")
    assert reader is not None and reader.checksum is crc and reader.shard == 3
    for t in range(7):
        got = reader._read_fast(t)
        assert got is not None  # the fast path itself, not zarr's fallback
        np.testing.assert_array_equal(got, data[t])
        np.testing.assert_array_equal(reader.read(t), data[t])
    np.testing.assert_array_equal(reader.read_all(), data)
    for t in (-1, 7):
        with pytest.raises(IndexError, match=r"out of range 0\.\.6"):
            reader.read(t)
    # a shard replaced by another write is read again (its index is not reused)
    arr[4] = data[4] + 1
    np.testing.assert_array_equal(reader.read(4), data[4] + 1)
    np.testing.assert_array_equal(reader.read(3), data[3])


def test_shard_reader_missing_shard_and_damaged_chunk(tmp_path: Path) -> None:
    shape = (4, 3, 3)
    data = np.arange(36, dtype=np.float32).reshape(shape)
    for crc in (True, False):
        arr = _sharded(tmp_path / f"a{crc}", shape, 2, crc=crc)
        arr[...] = data
        reader = base.shard_reader(tmp_path / f"a{crc}")
        shard = tmp_path / f"a{crc}" / "c" / "1" / "0" / "0"
        raw = shard.read_bytes()
        shard.unlink()
        if crc:  # every shard is written in format 2: a missing one is damage
            with pytest.raises(DataError, match="shard file of index 2 is missing"):
                reader.read(2)
        else:  # format 1: a missing shard is one of fill values only
            np.testing.assert_array_equal(reader.read(3), np.full((3, 3), 7, np.float32))
        np.testing.assert_array_equal(reader.read(1), data[1])
        if crc:  # a flipped byte inside a chunk: the fast path declines, zarr reports it
            bad = bytearray(raw)
            bad[10] ^= 0xFF
            shard.write_bytes(bytes(bad))
            assert reader._read_fast(2) is None  # byte 10 lies in the shard's first chunk
            np.testing.assert_array_equal(reader._read_fast(3), data[3])  # the other is fine
            with pytest.raises(Exception):  # noqa: B017 - zarr's own checksum error
                reader.read(2)


def test_shard_reader_unwritten_chunk_is_the_fill_value(tmp_path: Path) -> None:
    arr = _sharded(tmp_path / "a", (4, 3, 2), 4, crc=False)
    arr[0] = np.ones((3, 2), np.float32)  # chunks 1..3 of the shard never written
    reader = base.shard_reader(tmp_path / "a")
    got = reader._read_fast(2)
    assert got is not None
    np.testing.assert_array_equal(got, np.full((3, 2), 7, np.float32))
    np.testing.assert_array_equal(reader.read_all(), np.asarray(arr[...]))


def test_shard_reader_of_an_array_inside_a_group(tmp_path: Path) -> None:
    """The stores' arrays are opened through their group (``arr.path`` is the array's
    name below the store root): the fast path finds their shard files too."""
    grp = zarr.open_group(str(tmp_path / "g"), mode="w", zarr_format=3)
    data = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    grp.create_array("flow", shape=data.shape, dtype=data.dtype, chunks=(1, 3, 2),
                     shards=(2, 3, 2), compressors=compressors(), config=ARRAY_CONFIG)[...] = data
    arr = zarr.open_group(str(tmp_path / "g"), mode="r")["flow"]
    assert arr.path == "flow"
    reader = base.ShardReader.create(arr)
    assert reader is not None and reader.path == tmp_path / "g" / "flow"
    assert reader._read_fast(3) is not None
    np.testing.assert_array_equal(reader.read_all(), data)


def test_shard_reader_declines_other_layouts(tmp_path: Path) -> None:
    # each differs from the project's layout (Blosc + CRC32C in frame-chunk shards) in
    # one respect only, so that respect alone must make create() decline
    def make(name: str, shape, chunks, shards, dtype="float32", **kw):
        kw.setdefault("compressors", compressors())
        return zarr.create_array(str(tmp_path / name), shape=shape, dtype=dtype,
                                 chunks=chunks, shards=shards, **kw)  # fmt: skip

    assert base.ShardReader.create(make("d", (6,), (1,), (3,))) is None  # 1-D
    # inner chunk is not a whole frame
    assert base.ShardReader.create(make("w", (4, 6), (1, 3), (2, 6))) is None
    # not a bool/int/float dtype
    assert base.ShardReader.create(make("s", (4, 2), (1, 2), (2, 2), "complex64")) is None
    # a third inner codec that is not CRC32C
    from zarr.codecs import GzipCodec

    blosc = compressors()[0]
    odd = make("z", (4, 2), (1, 2), (2, 2), compressors=(blosc, GzipCodec()))
    assert base.ShardReader.create(odd) is None
    # Blosc without the checksum: accepted (format 1), with checksum=False
    assert base.ShardReader.create(make("b", (4, 2), (1, 2), (2, 2),
                                        compressors=(blosc,))).checksum is False  # fmt: skip
    ok = _sharded(tmp_path / "ok", (4, 2), 2)
    assert base.ShardReader.create(ok) is not None
    assert base.ShardReader.create("not an array") is None
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "zarr.json").write_text(json.dumps({"zarr_format": 3}))
    assert base.shard_reader(tmp_path / "junk") is None
