"""Never lose data in the stores: two writers on one store (a deterministic pause), groups
damaged after the fact (missing chunk files, a flipped byte), ``gnnannot verify``, and
pool workers that end with a killed stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from tiny_videos import write_tiny_dataset

from gnnannot.errors import DataError
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.runner import dataset_sequences
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.store import guard as store_guard
from gnnannot.store.base import list_videos
from gnnannot.store.features import read_features
from gnnannot.store.graphs import open_graph
from gnnannot.store.superpixels import SUPERPIXEL_ARRAYS, SuperpixelWriter, open_superpixels
from gnnannot.store.verify import verify_store

H, W, T = 48, 64, 3
P = SuperpixelParams(n_segments=30)
REPO = Path(__file__).resolve().parents[1]


def _sp(tmp: Path) -> dict:
    return build_superpixel_store(str(tmp / "davis"), str(tmp / "superpixels.zarr"), None, P,
                                  quiet=True)  # fmt: skip


def _ft(tmp: Path) -> dict:
    return build_feature_store(str(tmp / "davis"), str(tmp / "features.zarr"),
                               str(tmp / "superpixels.zarr"), None, quiet=True)  # fmt: skip


def _gr(tmp: Path) -> dict:
    return build_graph_store(str(tmp / "graphs.zarr"), str(tmp / "superpixels.zarr"),
                             str(tmp / "features.zarr"), None,
                             dataset_sequences(str(tmp / "davis")), quiet=True)  # fmt: skip


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    write_tiny_dataset(tmp_path / "davis", ["a", "b"], H, W, T)
    _sp(tmp_path), _ft(tmp_path), _gr(tmp_path)
    return tmp_path


def _values(store: Path, seq: str) -> dict[str, np.ndarray]:
    grp = zarr.open_group(str(store / seq), mode="r", zarr_format=3)
    return {name: np.asarray(arr[...]) for name, arr in grp.arrays()}


# --------------------------------------------------------------------------- two writers
def test_second_writer_waits_for_the_first(tmp_path, monkeypatch):
    """Run A pauses while writing its temporary group; run B starts on the same store and
    must wait (it used to delete A's temporary, leaving a 'complete' group without labels);
    A resumes and finishes, then B finds everything up to date."""
    write_tiny_dataset(tmp_path / "davis", ["a", "b"], H, W, T)
    a_writing, b_waiting, resume = threading.Event(), threading.Event(), threading.Event()
    real_write = SuperpixelWriter.write
    paused = []

    def write(self, labels, n=None):
        if not paused and threading.current_thread().name == "A":
            paused.append(self.seq)
            a_writing.set()
            assert resume.wait(60)
        return real_write(self, labels, n)

    real_wait = store_guard._on_wait

    def on_wait(store, owner):
        real_wait(store, owner)
        b_waiting.set()

    monkeypatch.setattr(SuperpixelWriter, "write", write)
    monkeypatch.setattr(store_guard, "_on_wait", on_wait)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            results[name] = _sp(tmp_path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ta = threading.Thread(target=run, args=("A",), name="A")
    ta.start()
    assert a_writing.wait(60)
    tmps = [p.name for p in (tmp_path / "superpixels.zarr").iterdir() if p.name.startswith(".tmp")]
    assert len(tmps) == 1  # A's temporary group exists
    tb = threading.Thread(target=run, args=("B",), name="B")
    tb.start()
    assert b_waiting.wait(60)  # B blocks on the store lock instead of cleaning A's group
    assert (tmp_path / "superpixels.zarr" / tmps[0]).is_dir()
    resume.set()
    ta.join(60)
    tb.join(60)
    assert not errors, errors
    assert sorted(results["A"]["computed"]) == ["a", "b"]
    assert results["B"]["computed"] == [] and sorted(results["B"]["kept"]) == ["a", "b"]
    for seq in ("a", "b"):  # sound groups: the next stages read them
        assert store_guard.check_group(tmp_path / "superpixels.zarr" / seq,
                                       SUPERPIXEL_ARRAYS) == []  # fmt: skip
    assert sorted(_ft(tmp_path)["computed"]) == ["a", "b"]


def test_group_damaged_while_written_is_not_stored(tmp_path):
    """The written group is checked before it is marked complete: an array that vanished
    from the temporary group (another process deleted it) fails the write."""
    store = tmp_path / "s.zarr"
    with pytest.raises(DataError, match="array 'labels' missing"):
        with SuperpixelWriter(store, "v", 2, 4, 4, {"fingerprint": "x"}) as wr:
            wr.write(np.zeros((4, 4), np.int32), 1)
            wr.write(np.ones((4, 4), np.int32), 2)
            import shutil

            (tmp,) = store.glob(".tmp-v-*")
            shutil.rmtree(tmp / "labels")
    assert list_videos(store, complete_only=False) == []
    assert not [p for p in store.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- damage
def test_missing_chunk_files_are_errors_and_rerun_recomputes(built):
    before = _values(built / "features.zarr", "a")
    labels = _values(built / "superpixels.zarr", "b")["labels"]
    (built / "features.zarr" / "a" / "descriptors" / "c" / "0" / "0").unlink()
    for shard in (built / "superpixels.zarr" / "b" / "labels" / "c").rglob("*"):
        if shard.is_file():
            shard.unlink()
    with pytest.raises(DataError, match=r"'a' is damaged .*descriptors"):
        read_features(built / "features.zarr", "a")
    with pytest.raises(DataError, match=r"'b' is damaged .*labels"):
        open_superpixels(built / "superpixels.zarr", "b")
    assert _sp(built)["computed"] == ["b"]  # the damaged groups are recomputed, others kept
    assert _ft(built)["computed"] == ["a"] or sorted(_ft(built)["computed"]) == ["a", "b"]
    after = _values(built / "features.zarr", "a")
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    np.testing.assert_array_equal(_values(built / "superpixels.zarr", "b")["labels"], labels)


def _flip_byte(path: Path, at: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_byte_is_an_error_and_verify_names_the_group(built):
    good = _values(built / "graphs.zarr", "b")
    _flip_byte(built / "graphs.zarr" / "b" / "edge_features" / "c" / "0" / "0")
    with pytest.raises(DataError, match=r"'edge_features' cannot be read .*checksum"):
        open_graph(built / "graphs.zarr", "b")
    rep = verify_store(built / "graphs.zarr")
    assert rep.kind == "graphs" and rep.damaged == ["b"] and rep.groups["a"] == []
    assert "edge_features" in rep.groups["b"][0]
    rep = verify_store(built / "graphs.zarr", remove_damaged=True)
    assert rep.removed == ["b"] and not (built / "graphs.zarr" / "b").exists()
    assert _gr(built)["computed"] == ["b"]
    for k, v in good.items():
        np.testing.assert_array_equal(_values(built / "graphs.zarr", "b")[k], v)


def test_flipped_byte_in_a_label_shard(built):
    shard = next(p for p in (built / "superpixels.zarr" / "a" / "labels" / "c").rglob("*")
                 if p.is_file())  # fmt: skip
    _flip_byte(shard, 20)  # inside the first chunk's bytes (the index is at the end)
    spv = open_superpixels(built / "superpixels.zarr", "a")
    with pytest.raises(DataError, match="labels"):
        spv.local(0)
    assert verify_store(built / "superpixels.zarr").damaged == ["a"]


def test_verify_command_through_main(built, tmp_path):
    def main(*args: str) -> tuple[int, str]:
        code = "from gnnannot.cli import main; main()"
        env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "300"}
        res = subprocess.run([sys.executable, "-c", code, "verify", *args], env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        return res.returncode, res.stdout + res.stderr

    stores = [str(built / f"{k}.zarr") for k in ("superpixels", "features", "graphs")]
    code, out = main(*stores)
    assert code == 0, out
    assert out.count("2 ok, 0 damaged") == 3
    _flip_byte(built / "features.zarr" / "b" / "node_features" / "c" / "0" / "0")
    code, out = main(*stores)
    assert code == 1
    assert "damaged " + str(built / "features.zarr" / "b") in out and "node_features" in out
    assert "1 ok, 1 damaged" in out
    code, out = main(str(tmp_path / "nowhere.zarr"))
    assert code == 2 and "nowhere.zarr: not a zarr store" in out


def test_values_identical_to_uncheck_summed_writes(built):
    """Only integrity was added: the decoded values equal those of the same data written
    with the old codecs (Blosc alone, empty chunks skipped)."""
    for store, seq in (("superpixels.zarr", "a"), ("features.zarr", "b"), ("graphs.zarr", "a")):
        vals = _values(built / store, seq)
        old = zarr.open_group(str(built / "old" / store / seq), mode="w", zarr_format=3)
        for name, v in vals.items():
            from zarr.codecs import BloscCodec

            arr = old.create_array(name, shape=v.shape, dtype=v.dtype,
                                   compressors=BloscCodec(cname="zstd", clevel=3,
                                                          shuffle="shuffle"),
                                   fill_value=0)  # fmt: skip
            if v.size:
                arr[...] = v
            assert np.asarray(arr[...]).tobytes() == v.tobytes()


# --------------------------------------------------------------------------- workers
WORKER_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from gnnannot.pipeline.executor import ProcessExecutor

    out = sys.argv[1]

    def job(i):
        open(os.path.join(out, f"worker-{os.getpid()}"), "w").close()
        time.sleep(120)  # "writing" long after the parent is gone
        return i

    if __name__ == "__main__":
        ProcessExecutor(2).run(job, [(i,) for i in range(4)], description="test", quiet=True)
""")


def test_pool_workers_end_with_a_killed_parent(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(WORKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert len(pids) == 2
        assert all(store_guard.pid_alive(p) for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30  # bounded wait; the watcher polls every 0.2 s
    while any(store_guard.pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if store_guard.pid_alive(p)]
    for p in alive:  # clean up before failing
        os.kill(p, signal.SIGKILL)
    assert alive == []
