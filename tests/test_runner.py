"""The per-video incremental runner (gnnannot/pipeline/runner.py) on a toy stage whose
job writes one tiny group: what is computed, kept and pruned, in which order the jobs
are given to the executor, before_jobs, the root group, and a failed first run leaving
nothing. Expectations are written out by hand for each case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError, GnnAnnotError
from gnnannot.pipeline.executor import SerialExecutor
from gnnannot.pipeline.runner import (
    ExecutorConfig,
    VideoTask,
    dataset_sequences,
    flow_fingerprint,
    run_videos,
)
from gnnannot.store.base import fingerprint, group_attrs, group_writer, is_up_to_date
from gnnannot.store.guard import lock_path


class _Recorder(SerialExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def run(self, fn, jobs, *, description, quiet=False, sizes=None, labels=None):
        self.calls.append({"jobs": list(jobs), "description": description, "sizes": sizes,
                           "labels": labels})  # fmt: skip
        return super().run(fn, jobs, description=description, quiet=quiet, sizes=sizes,
                           labels=labels)  # fmt: skip


def _job(store: str, seq: str, value: int, fp: str) -> None:
    with group_writer(store, seq, {"fingerprint": fp}) as grp:
        grp.create_array("v", shape=(1,), dtype="int64")[...] = value


def _stage(store: Path, values: dict[str, int], **kw: Any) -> dict[str, list[str]]:
    def plan(seq: str) -> VideoTask:
        fp = fingerprint("toy", seq, values[seq])
        return VideoTask(seq, fp, (str(store), seq, values[seq], fp), size=values[seq])

    return run_videos(store, name="toy", kind="toy", sequences=list(values), plan=plan,
                      job=_job, up_to_date=is_up_to_date, quiet=True, **kw)  # fmt: skip


def _value(store: Path, seq: str) -> int:
    return int(zarr.open_group(str(store / seq), mode="r")["v"][0])


def test_computes_keeps_and_prunes_exactly(tmp_path: Path) -> None:
    store = tmp_path / "toy.zarr"
    ex = _Recorder()
    res = _stage(store, {"a": 1, "b": 3, "c": 2}, executor=ex, keep=["a", "b", "c"])
    assert res == {"computed": ["a", "b", "c"], "kept": [], "removed": []}
    call = ex.calls[-1]
    assert call["description"] == "toy" and call["labels"] == ["a", "b", "c"]
    assert call["sizes"] == [1, 3, 2]
    assert [j[1:3] for j in call["jobs"]] == [("a", 1), ("b", 3), ("c", 2)]
    assert {s: _value(store, s) for s in "abc"} == {"a": 1, "b": 3, "c": 2}
    root = group_attrs(tmp_path, "toy.zarr")
    assert root is not None and root["schema"] == "gnnannot.toy"
    # nothing changed: nothing computed, the executor is not even called
    ex2 = _Recorder()
    assert _stage(store, {"a": 1, "b": 3, "c": 2}, executor=ex2) == {
        "computed": [], "kept": ["a", "b", "c"], "removed": []}
    assert ex2.calls == []
    # one input changed, one video dropped from the dataset (keep), one kept
    res = _stage(store, {"a": 1, "b": 4}, keep=["a", "b"])
    assert res == {"computed": ["b"], "kept": ["a"], "removed": ["c"]}
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == [
        "a", "b", "zarr.json"]
    assert _value(store, "b") == 4
    # keep=None prunes nothing
    assert _stage(store, {"a": 1}) == {"computed": [], "kept": ["a"], "removed": []}
    assert (store / "b").is_dir()


def test_before_jobs_runs_once_only_when_there_are_jobs(tmp_path: Path) -> None:
    store = tmp_path / "toy.zarr"
    calls: list[int] = []
    _stage(store, {"a": 1, "b": 2}, before_jobs=lambda: calls.append(1))
    assert calls == [1]
    _stage(store, {"a": 1, "b": 2}, before_jobs=lambda: calls.append(2))
    assert calls == [1]


def test_kind_none_and_root_attrs(tmp_path: Path) -> None:
    store = tmp_path / "plain.zarr"
    res = run_videos(store, name="p", kind=None, sequences=["x"],
                     plan=lambda s: VideoTask(s, "k", (str(store), s, 5, "k")), job=_job,
                     up_to_date=is_up_to_date, quiet=True)  # fmt: skip
    assert res["computed"] == ["x"] and (store / "zarr.json").is_file()
    assert group_attrs(tmp_path, "plain.zarr") == {}
    other = tmp_path / "attrs.zarr"
    _stage(other, {"a": 1}, root_attrs={"params": {"n": 3}})
    assert group_attrs(tmp_path, "attrs.zarr")["params"] == {"n": 3}


def test_failed_first_run_leaves_nothing_a_later_failure_keeps_the_store(tmp_path) -> None:
    store = tmp_path / "toy.zarr"

    def failing(*_: Any) -> None:
        raise DataError("video broken")

    def plan(seq: str) -> VideoTask:
        return VideoTask(seq, "fp", (seq,))

    with pytest.raises(GnnAnnotError, match="video broken"):
        run_videos(store, name="toy", kind="toy", sequences=["a"], plan=plan, job=failing,
                   up_to_date=is_up_to_date, quiet=True)  # fmt: skip
    assert not store.exists() and not lock_path(store).exists()
    _stage(store, {"a": 1})
    with pytest.raises(GnnAnnotError, match="video broken"):
        run_videos(store, name="toy", kind="toy", sequences=["b"], plan=plan, job=failing,
                   up_to_date=is_up_to_date, quiet=True)  # fmt: skip
    assert _value(store, "a") == 1  # the earlier store stays as it was
    # a first run that stored a video before failing keeps what it stored
    second = tmp_path / "second.zarr"
    seen: list[str] = []

    def half(store_: str, seq: str, value: int, fp: str) -> None:
        seen.append(seq)
        if seq == "b":
            raise DataError("b broken")
        _job(store_, seq, value, fp)

    with pytest.raises(GnnAnnotError):
        run_videos(second, name="h", kind="toy", sequences=["a", "b"],
                   plan=lambda s: VideoTask(s, "fp", (str(second), s, 1, "fp")), job=half,
                   up_to_date=is_up_to_date, quiet=True)  # fmt: skip
    assert seen == ["a", "b"] and (second / "a").is_dir()


def test_executor_config_sections() -> None:
    assert ExecutorConfig.from_section(None, "flow.executor") == ExecutorConfig("process", 2)
    cfg = ExecutorConfig.from_section({"kind": "dask", "workers": 3, "address": "tcp://x"},
                                      "s.executor")  # fmt: skip
    assert (cfg.kind, cfg.workers, cfg.options) == ("dask", 3, {"address": "tcp://x"})
    assert cfg.as_section() == {"kind": "dask", "workers": 3, "address": "tcp://x"}
    section = {"kind": "serial"}
    ExecutorConfig.from_section(section, "s")
    assert section == {"kind": "serial"}  # the caller's dict is not consumed
    for bad, match in [({"kind": 3}, r"s\.kind must be str, found 3"),
                       ({"workers": 0}, r"s\.workers must be an int >= 1, found 0"),
                       ({"workers": True}, "found True"),
                       ({"workers": "2"}, "found '2'")]:  # fmt: skip
        with pytest.raises(ConfigError, match=match):
            ExecutorConfig.from_section(bad, "s")
    ex = ExecutorConfig("serial", 1).make()
    assert isinstance(ex, SerialExecutor)
    with pytest.raises(GnnAnnotError, match="unknown"):
        ExecutorConfig("nonsense", 1).make()


def test_dataset_sequences_and_flow_fingerprint(tmp_path: Path) -> None:
    root = tmp_path / "davis"
    for name in ("a", "b", "c"):
        masks = np.zeros((1, 8, 8), np.uint8)
        davis.write_sequence(root, name, np.zeros((1, 8, 8, 3), np.uint8), masks)
    davis.write_split(root, "train", ["b", "a"])
    davis.write_split(root, "val", ["a", "c"])
    assert dataset_sequences(root) == ["b", "a", "c"]  # order kept, no duplicates
    assert dataset_sequences(root, ["val"]) == ["a", "c"]
    assert dataset_sequences(root, ["val", "train"]) == ["a", "c", "b"]
    assert flow_fingerprint(None, "a") is None


def test_log_line_and_executor_options(tmp_path: Path, monkeypatch, capsys) -> None:
    from gnnannot.pipeline import executor_base as executor_mod

    store = tmp_path / "toy.zarr"
    values = {"a": 1, "b": 2}

    def plan(seq: str) -> VideoTask:
        fp = fingerprint("toy", seq, values[seq])
        return VideoTask(seq, fp, (str(store), seq, values[seq], fp))

    run_videos(store, name="toy", kind="toy", sequences=["a"], plan=plan, job=_job,
               up_to_date=is_up_to_date, quiet=False)  # fmt: skip
    run_videos(store, name="toy", kind="toy", sequences=["a", "b"], plan=plan, job=_job,
               up_to_date=is_up_to_date, keep=["b"], quiet=False)  # fmt: skip
    err = capsys.readouterr().err
    assert "toy: 1 to compute, 0 up to date, 0 removed" in err
    # a is pruned first (not kept), then planned again with b: both computed
    assert "toy: 2 to compute, 0 up to date, 1 removed" in err
    made: list[dict[str, Any]] = []

    class Recording(SerialExecutor):
        def __init__(self, workers: int = 1, **options: Any) -> None:
            super().__init__()
            made.append({"workers": workers, **options})

    monkeypatch.setitem(executor_mod._REGISTRY, "recording", Recording)
    ex = ExecutorConfig.from_section({"kind": "recording", "workers": 3, "address": "x"},
                                     "s").make()  # fmt: skip
    assert isinstance(ex, Recording) and made == [{"workers": 3, "address": "x"}]
