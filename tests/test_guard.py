"""Store safety helpers (gnnannot/store/guard.py) on small real zarr groups: temporaries
of dead writers only, the writer lock's file and its clean-up, the decorator that takes
several stores' locks, missing chunk files, damaged and corrupt groups named clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from gnnannot.errors import DataError
from gnnannot.store import guard


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _group(path: Path, shape=(5, 4), chunks=(2, 4)) -> zarr.Group:
    grp = zarr.open_group(str(path), mode="w", zarr_format=3)
    arr = grp.create_array("x", shape=shape, chunks=chunks, dtype="int32",
                           compressors=guard.compressors(), config=guard.ARRAY_CONFIG)
    arr[...] = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    return grp


def test_compressors_and_temp_names() -> None:
    blosc, crc = guard.compressors()
    assert type(blosc).__name__ == "BloscCodec" and type(crc).__name__ == "Crc32cCodec"
    assert str(blosc.cname.value if hasattr(blosc.cname, "value") else blosc.cname) == "zstd"
    assert blosc.clevel == 3
    name = guard.temp_name(guard.TMP_PREFIX, "bear")
    assert name.startswith(f".tmp-bear-{os.getpid()}-") and len(name.rsplit("-")[-1]) == 8
    assert guard.temp_owner(name) == os.getpid()
    assert guard.temp_name(".old-", "a") != guard.temp_name(".old-", "a")


def test_clean_temporaries_of_dead_writers_only(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    dead, me = _dead_pid(), os.getpid()
    dirs = {f".tmp-a-{dead}-aaaaaaaa": True, f".old-b-{dead}-bbbbbbbb": True,
            ".tmp-c-nopid": True,  # no owner recorded: nobody can still be writing it
            f".tmp-d-{me}-dddddddd": False, f".old-e-{me}-eeeeeeee": False,
            f"f-{dead}-ffffffff": False, "video": False}  # fmt: skip
    for name in dirs:
        (store / name).mkdir(parents=True)
    (store / f".tmp-file-{dead}-12345678").write_text("a file, not a group")
    removed = guard.clean_temporaries(store)
    assert removed == sorted(n for n, gone in dirs.items() if gone)
    assert sorted(p.name for p in store.iterdir()) == sorted(
        [n for n, gone in dirs.items() if not gone] + [f".tmp-file-{dead}-12345678"])
    assert guard.clean_temporaries(tmp_path / "none.zarr") == []


def test_store_lock_file_pid_and_cleanup(tmp_path: Path) -> None:
    store = tmp_path / "sub" / "s.zarr"
    lp = guard.lock_path(store)
    assert lp == store.absolute().parent / ".s.zarr.lock"
    dead = _dead_pid()
    with guard.store_lock(store):
        assert lp.read_text() == f"pid {os.getpid()}\n"
        store.mkdir()
        (store / f".tmp-a-{dead}-aaaaaaaa").mkdir()
    assert lp.exists() and lp.read_text() == ""  # store exists: lock file kept, emptied
    with guard.store_lock(store):  # taking it again cleans the dead writer's temporary
        assert not (store / f".tmp-a-{dead}-aaaaaaaa").exists()
    other = tmp_path / "never.zarr"
    with guard.store_lock(other):
        assert guard.lock_path(other).exists()
    assert not guard.lock_path(other).exists()  # no store afterwards: no lock file
    with pytest.raises(RuntimeError), guard.store_lock(other):
        raise RuntimeError("failed first run")
    assert not guard.lock_path(other).exists()


def test_second_holder_waits_and_is_reported(tmp_path: Path, monkeypatch) -> None:
    store = tmp_path / "s.zarr"
    store.mkdir()
    waits: list[tuple[Path, str]] = []
    monkeypatch.setattr(guard, "_on_wait", lambda s, owner: waits.append((s, owner)))
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with guard.store_lock(store):
            held.set()
            time.sleep(0.5)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    held.wait(10)
    with guard.store_lock(store):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]
    assert waits == [(store, f"pid {os.getpid()}")]


def test_locked_store_takes_every_named_store(tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    @guard.locked_store("out", "extra")
    def build(src: str, out: str, extra: str | None = None, *, flag: int = 0) -> int:
        for p in (out, extra):
            if p:
                seen[Path(p).name] = guard.lock_path(p).read_text()
        return flag + 1

    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    assert build("x", str(a), str(b), flag=2) == 3
    assert seen == {"a.zarr": f"pid {os.getpid()}\n", "b.zarr": f"pid {os.getpid()}\n"}
    seen.clear()
    assert build("x", out=str(a)) == 1  # None: skipped
    assert seen == {"a.zarr": f"pid {os.getpid()}\n"}
    assert build.__name__ == "build"
    assert not guard.lock_path(a).exists()  # neither store was created


def test_missing_chunks_and_check_group(tmp_path: Path) -> None:
    path = tmp_path / "g"
    grp = _group(path)
    assert guard.missing_chunks(grp["x"]) == []
    assert guard.check_group(path, ["x"]) == []
    (path / "x" / "c" / "1" / "0").unlink()  # rows 2-3
    assert guard.missing_chunks(grp["x"]) == ["c/1/0"]
    assert guard.check_group(path, ["x"]) == ["array 'x': 1 chunk file(s) missing (c/1/0...)"]
    with pytest.raises(DataError, match=r"^where: damaged group: array 'x': 1 chunk"):
        guard.require_sound(path, ["x"], "where")
    mem = zarr.create_array(store=zarr.storage.MemoryStore(), shape=(3,), chunks=(1,),
                            dtype="int8")  # fmt: skip
    assert guard.missing_chunks(mem) == []  # not a local store: nothing to check
    empty = zarr.open_group(str(tmp_path / "e"), mode="w", zarr_format=3)
    z = empty.create_array("z", shape=(0, 4), chunks=(2, 4), dtype="int8")
    assert guard.missing_chunks(z) == []


def test_check_group_problems_are_named(tmp_path: Path) -> None:
    path = tmp_path / "g"
    grp = _group(path)
    grp.create_group("sub")
    grp.attrs["arrays"] = ["x", "listed"]
    assert guard.check_group(path, ["x", "y", "sub"]) == [
        "array 'y' missing", "'sub' is not an array", "array 'listed' missing"]
    assert guard.array_names(grp) == ["x"]
    grp.create_array("a", shape=(1,), dtype="int8")
    assert guard.array_names(zarr.open_group(str(path), mode="r")) == ["a", "x"]
    (path / "zarr.json").write_text("{not json")
    (problem,) = guard.check_group(path, ["x"])
    assert problem.startswith("group unreadable (")
    assert guard.check_group(tmp_path / "absent", ["x"])[0].startswith("group unreadable")


def test_verify_group_decodes_every_chunk(tmp_path: Path) -> None:
    path = tmp_path / "g"
    grp = _group(path, shape=(5, 4), chunks=(2, 4))
    scalar = grp.create_array("s", shape=(), dtype="float32", compressors=guard.compressors())
    scalar[...] = 1.5
    assert guard.verify_group(path, ["x", "s"]) == []
    chunk = path / "x" / "c" / "2" / "0"  # the last chunk: row 4
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    assert guard.check_group(path, ["x"]) == []  # structure intact: only decoding finds it
    (problem,) = guard.verify_group(path, ["x", "s"])
    assert problem.startswith("array 'x': chunk at 4 is corrupt (")
    (path / "x" / "c" / "0" / "0").unlink()
    assert guard.verify_group(path, ["x"]) == [
        "array 'x': 1 chunk file(s) missing (c/0/0...)"]  # structural problems first


def test_on_wait_names_the_store_and_the_owner(tmp_path: Path, capsys) -> None:
    guard._on_wait(Path("data/flow.zarr"), "pid 4242")
    guard._on_wait(Path("data/flow.zarr"), "")
    err = capsys.readouterr().err.split("\n")
    assert err[0] == "data/flow.zarr: waiting for another writer (pid 4242) to finish"
    assert err[1] == "data/flow.zarr: waiting for another writer (unknown pid) to finish"


def test_verify_group_checks_listed_arrays_and_names_the_error(tmp_path: Path) -> None:
    path = tmp_path / "g"
    grp = _group(path)
    grp.attrs["arrays"] = ["x"]  # listed, not required by the caller
    chunk = path / "x" / "c" / "1" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    try:  # the error reading that chunk raises, independently of verify_group
        zarr.open_group(str(path), mode="r")["x"][2:4]
    except Exception as exc:  # noqa: BLE001 - whatever the codec raises
        want = type(exc).__name__
    (problem,) = guard.verify_group(path, [])
    assert problem.startswith(f"array 'x': chunk at 2 is corrupt ({want}: ")
    assert want != "NoneType"


def test_require_sound_joins_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "g"
    _group(path)
    with pytest.raises(DataError) as exc:
        guard.require_sound(path, ["y", "z"], "store/b")
    assert str(exc.value) == ("store/b: damaged group: array 'y' missing; "
                              "array 'z' missing")  # fmt: skip
    guard.require_sound(path, ["x"], "store/b")  # sound: no error


def test_clean_temporaries_goes_past_other_entries(tmp_path: Path) -> None:
    """Entries that are not temporaries (sorted before them) are skipped, not the end."""
    store = tmp_path / "s.zarr"
    dead = _dead_pid()
    for name in (".aaa-cache", f".tmp-a-{dead}-aaaaaaaa"):
        (store / name).mkdir(parents=True)
    (store / ".a-note").write_text("x")
    assert guard.clean_temporaries(store) == [f".tmp-a-{dead}-aaaaaaaa"]
    assert sorted(p.name for p in store.iterdir()) == [".a-note", ".aaa-cache"]


def test_missing_chunks_of_an_array_with_a_unit_axis(tmp_path: Path) -> None:
    path = tmp_path / "g"
    grp = _group(path, shape=(1, 6), chunks=(1, 3))
    (path / "x" / "c" / "0" / "1").unlink()
    assert guard.missing_chunks(grp["x"]) == ["c/0/1"]


def test_compressors_byte_shuffle() -> None:
    from zarr.codecs import BloscShuffle

    blosc, _ = guard.compressors()
    assert blosc.shuffle == BloscShuffle.shuffle  # byte shuffle, not chosen per dtype


def test_missing_chunks_of_an_array_at_the_store_root(tmp_path: Path) -> None:
    path = tmp_path / "root_array"
    arr = zarr.create_array(str(path), shape=(4,), chunks=(2,), dtype="int8",
                            config=guard.ARRAY_CONFIG)  # fmt: skip
    arr[...] = 1
    assert arr.path == "" and guard.missing_chunks(arr) == []
    (path / "c" / "1").unlink()
    assert guard.missing_chunks(zarr.open_array(str(path), mode="r")) == ["c/1"]


def test_unreadable_group_names_the_error_type(tmp_path: Path) -> None:
    path = tmp_path / "g"
    _group(path)
    (path / "zarr.json").write_text("{not json")
    try:
        zarr.open_group(str(path), mode="r", zarr_format=3)
    except Exception as exc:  # noqa: BLE001 - whatever zarr raises for it
        want = type(exc).__name__
    assert guard.check_group(path, ["x"])[0].startswith(f"group unreadable ({want}: ")


def test_clean_temporaries_survives_a_temporary_removed_meanwhile(tmp_path, monkeypatch):
    """Another cleaner deletes a dead writer's temporary first (a race between two
    writers' clean-ups): the second deletion must not fail the run."""
    import shutil

    store = tmp_path / "s.zarr"
    dead = _dead_pid()
    for name in (f".tmp-a-{dead}-aaaaaaaa", f".tmp-b-{dead}-bbbbbbbb"):
        (store / name).mkdir(parents=True)
    real = shutil.rmtree

    def raced(path, *args, **kwargs):
        real(path)  # the other cleaner was faster
        return real(path, *args, **kwargs)  # raises unless errors are ignored

    monkeypatch.setattr(guard.shutil, "rmtree", raced)
    assert guard.clean_temporaries(store) == [f".tmp-a-{dead}-aaaaaaaa",
                                              f".tmp-b-{dead}-bbbbbbbb"]  # fmt: skip
    assert list(store.iterdir()) == []
