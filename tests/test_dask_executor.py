"""The dask executor (gnnannot.pipeline.dask_executor) on a LocalCluster of 2 worker
processes: the executor contract, every preprocessing stage byte-identical to the local
process pool, and a worker killed mid-task (the stage fails naming the video; a rerun
completes with the same arrays)."""

from __future__ import annotations

import operator
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

pytest.importorskip("distributed")

from tiny_videos import write_tiny_dataset  # noqa: E402

from gnnannot.atomic import temp_owner  # noqa: E402
from gnnannot.errors import ConfigError  # noqa: E402
from gnnannot.pipeline.executor import JobFailed, make_executor  # noqa: E402
from gnnannot.pipeline.features import build_feature_store  # noqa: E402
from gnnannot.pipeline.flow import build_flow_store  # noqa: E402
from gnnannot.pipeline.graphs import build_graph_store  # noqa: E402
from gnnannot.pipeline.superpixels import build_superpixel_store  # noqa: E402
from gnnannot.preprocess.superpixels import SuperpixelParams  # noqa: E402
from gnnannot.store import base as gs  # noqa: E402

NAMES = ["a", "b", "c", "d"]
LENGTHS = [3, 6, 4, 5]
STAGES = ("flow", "superpixels", "features", "graphs")


@pytest.fixture(scope="module")
def cluster() -> Any:
    """One LocalCluster (2 worker processes, 1 thread each) for the module; a task whose
    worker dies fails at once (allowed-failures 0, as the executor's own LocalCluster)."""
    import dask
    from distributed import LocalCluster

    from gnnannot.pipeline.dask_executor import local_scheduler_config

    with dask.config.set(local_scheduler_config(0)):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=50)  # fmt: skip
    yield c
    c.close()


def _dask(cluster: Any) -> Any:
    return make_executor("dask", 2, address=cluster.scheduler_address)


def _build(root: Path, out: Path, executor: Any) -> dict[str, str]:
    """All four preprocessing stages of ``root`` into ``out`` on ``executor``."""
    s = {k: str(out / f"{k}.zarr") for k in STAGES}
    build_flow_store(str(root), s["flow"], quiet=True, executor=executor)
    build_superpixel_store(str(root), s["superpixels"], s["flow"],
                           SuperpixelParams(n_segments=30), quiet=True,
                           executor=executor)  # fmt: skip
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"], quiet=True,
                        executor=executor)  # fmt: skip
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], NAMES,
                      quiet=True, executor=executor)  # fmt: skip
    return s


def _arrays(store: str) -> dict[str, np.ndarray]:
    """Every array of every video group of ``store``, by ``seq/name``."""
    out = {}
    for seq in sorted(gs.list_videos(store)):
        grp = zarr.open_group(str(Path(store) / seq), mode="r")
        for name, arr in sorted(grp.arrays()):
            out[f"{seq}/{name}"] = arr[...]
    return out


def _assert_same(a: str, b: str) -> None:
    xa, xb = _arrays(a), _arrays(b)
    assert sorted(xa) == sorted(xb) and len(xa) >= len(NAMES)
    for key in xa:
        assert xa[key].dtype == xb[key].dtype, key
        assert xa[key].tobytes() == xb[key].tobytes(), f"{a}: {key} differs"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The tiny dataset and its stores built by the local process pool (the reference)."""
    d = tmp_path_factory.mktemp("dask")
    write_tiny_dataset(d / "davis", NAMES, t=LENGTHS)
    return d, _build(d / "davis", d / "local", make_executor("process", 2))


def test_job_order_and_a_named_failure(cluster: Any) -> None:
    ex = _dask(cluster)
    jobs = [(i, i + 1) for i in range(6)]
    assert ex.run(operator.mul, jobs, description="t", quiet=True,
                  sizes=[1, 9, 2, 8, 3, 7]) == [i * (i + 1) for i in range(6)]  # fmt: skip
    with pytest.raises(JobFailed) as info:
        ex.run(operator.floordiv, [(4, 2), (1, 0), (9, 3)], description="t", quiet=True,
               labels=["v0", "v1", "v2"])  # fmt: skip
    assert info.value.label == "v1" and "ZeroDivisionError" in str(info.value)


def test_bad_options_are_named() -> None:
    with pytest.raises(ConfigError, match="address must be 'local' or"):
        make_executor("dask", 2, address="localhost:8786")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['threads'\]"):
        make_executor("dask", 2, threads=4)


def test_every_stage_identical_to_the_local_executor(
    cluster: Any, dataset: tuple[Path, dict[str, str]]
) -> None:
    d, local = dataset
    remote = _build(d / "davis", d / "dask", _dask(cluster))
    for stage in STAGES:
        _assert_same(local[stage], remote[stage])


def _kill_writer(store: Path, seq: str, stop: threading.Event, killed: list[int]) -> None:
    """Kill (SIGKILL) the process writing ``store/.tmp-<seq>-<pid>-...`` once it shows."""
    while not stop.is_set():
        if store.is_dir():
            for child in store.iterdir():
                if child.name.startswith(f".tmp-{seq}-"):
                    pid = temp_owner(child.name)
                    if pid is not None and pid != os.getpid():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
        time.sleep(0.0005)


def test_killed_worker_fails_the_stage_and_a_rerun_completes(
    cluster: Any, dataset: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    d, local = dataset
    root = d / "davis"
    flow = local["flow"]
    store = tmp_path / "superpixels.zarr"
    params = SuperpixelParams(n_segments=30)
    stop, killed = threading.Event(), []
    watcher = threading.Thread(target=_kill_writer, args=(store, "b", stop, killed))
    watcher.start()
    try:
        with pytest.raises(JobFailed) as info:
            build_superpixel_store(str(root), str(store), flow, params, quiet=True,
                                   executor=_dask(cluster))  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert killed, "the writer of video b was never seen"
    assert info.value.label == "b"
    assert "the worker running it died" in str(info.value)
    assert "b" not in gs.list_videos(store, complete_only=False)  # no half-written group
    assert [p for p in os.listdir(store) if p.startswith(".tmp-b-")]  # the dead writer's
    build_superpixel_store(str(root), str(store), flow, params, quiet=True,
                           executor=_dask(cluster))  # fmt: skip
    assert not [p for p in os.listdir(store) if p.startswith(".")]  # ... deleted by the rerun
    _assert_same(local["superpixels"], str(store))
