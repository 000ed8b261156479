"""Run the DAVIS interactive benchmark of a method over DAVIS-layout sequences."""

from __future__ import annotations

import inspect
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gnnannot.atomic import atomic_file
from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos.robot import ROBOT_DEFAULTS, ScribbleRobot
from gnnannot.ivos.session import (
    REPORT_COLUMNS,
    InteractiveMethod,
    VideoData,
    run_session,
)
from gnnannot.ivos.summary import summarize_report
from gnnannot.progress import log, make_progress

__all__ = ["limit_threads", "run_benchmark", "write_report"]


def write_report(path: str | os.PathLike[str], report: pd.DataFrame) -> None:
    """Write a report as CSV (columns ``REPORT_COLUMNS``, no index), atomically."""
    with atomic_file(path) as tmp:
        report.to_csv(tmp, index=False, columns=REPORT_COLUMNS)


MethodLike = InteractiveMethod | Callable[[], InteractiveMethod]


@dataclass(frozen=True)
class _Task:
    """One session to run: where its data is and how (all picklable)."""

    dataset_root: str
    sequence: str
    scribble_idx: int
    scribble_path: str
    extra: dict[str, Any]
    session: dict[str, Any]  # run_session keyword arguments (robot excluded)
    robot: dict[str, Any]


@dataclass
class _Outcome:
    report: pd.DataFrame
    flags: list[dict[str, Any]]
    n_objects: int


def _is_factory(method: MethodLike) -> bool:
    return inspect.isclass(method) or not hasattr(method, "interact")


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(n: int = 1) -> Callable[[], None]:
    """Use ``n`` threads for torch and for the BLAS/OpenMP pools already loaded in this
    process (threadpoolctl), and ``n`` in processes started from it, so that sessions give
    the same results with any number of workers, and two workers on two cores do not
    oversubscribe them. Returns a function restoring the previous settings."""
    from threadpoolctl import threadpool_limits

    saved_env = {v: os.environ.get(v) for v in _THREAD_VARS}
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    limiter = threadpool_limits(limits=n)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None  # type: ignore[assignment]
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)

    def restore() -> None:
        limiter.restore_original_limits()
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch is not None and previous is not None:
            torch.set_num_threads(previous)

    return restore


class _Runner:
    """Runs tasks in order, keeping the last video and the method between tasks."""

    def __init__(self, method: MethodLike) -> None:
        self._method_or_factory = method
        self._method: InteractiveMethod | None = None
        self._loaded: tuple[str, str, VideoData, Any] | None = None

    def method(self) -> InteractiveMethod:
        if self._method is None:
            m = self._method_or_factory
            self._method = m() if _is_factory(m) else m  # type: ignore[operator,assignment]
        return self._method  # type: ignore[return-value]

    def video(self, task: _Task) -> tuple[VideoData, Any]:
        key = (task.dataset_root, task.sequence)
        if self._loaded is None or self._loaded[:2] != key:
            root, seq = key
            frames = davis.read_frames(root, seq)
            gt = davis.read_annotations(root, seq)
            if gt.shape != frames.shape[:3]:
                raise DataError(
                    f"{davis.annotations_dir(root, seq)}: annotations have shape "
                    f"{gt.shape}, frames have {frames.shape[:3]}"
                )
            video = VideoData(seq, frames, davis.num_objects(gt), dict(task.extra))
            self._loaded = (root, seq, video, gt)
        return self._loaded[2], self._loaded[3]

    def run(self, task: _Task) -> _Outcome:
        video, gt = self.video(task)
        scribble = davis.read_scribble(task.scribble_path, video.n_frames, video.n_objects)
        res = run_session(video, gt, scribble, self.method(), scribble_idx=task.scribble_idx,
                          robot=ScribbleRobot(**task.robot), **task.session)
        seq, idx = task.sequence, task.scribble_idx
        flags: list[dict[str, Any]] = []
        if res.timed_out:
            flags.append({"sequence": seq, "scribble_idx": idx, "flag": "timeout",
                          "interactions": res.n_interactions})
        for it in res.slow_interactions:
            flags.append({"sequence": seq, "scribble_idx": idx, "flag": "slow",
                          "interaction": it})
        return _Outcome(res.report, flags, video.n_objects)


_worker: _Runner | None = None


def _init_worker(method: MethodLike, threads: int) -> None:
    global _worker
    limit_threads(threads)
    _worker = _Runner(method)


def _run_in_worker(task: _Task) -> _Outcome:
    assert _worker is not None, "worker not initialised"
    return _worker.run(task)


def _outcomes(
    tasks: list[_Task], method: MethodLike, workers: int, threads: int
) -> Iterator[_Outcome]:
    """Outcomes in task order, computed here or by ``workers`` processes."""
    restore = limit_threads(threads)  # workers inherit the environment variables
    try:
        if workers <= 1 or len(tasks) <= 1:
            runner = _Runner(method)
            for task in tasks:
                yield runner.run(task)
        else:
            yield from _pool_outcomes(tasks, method, workers, threads)
    finally:
        restore()


def _pool_outcomes(
    tasks: list[_Task], method: MethodLike, workers: int, threads: int
) -> Iterator[_Outcome]:
    if not _is_factory(method):
        raise ConfigError("workers > 1 needs a picklable method factory (a class or "
                          "functools.partial), not a method instance")
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                             initializer=_init_worker, initargs=(method, threads)) as pool:
        # chunks of one sequence's consecutive sessions: each video is read once per chunk
        per_seq = max(1, len(tasks) // max(1, len({t.sequence for t in tasks})))
        yield from pool.map(_run_in_worker, tasks, chunksize=per_seq)


def run_benchmark(
    dataset_root: str | os.PathLike[str],
    sequences: Sequence[str],
    method: MethodLike,
    *,
    max_interactions: int = 8,
    metric: str = "J",
    max_time: float | None = 240.0,
    interaction_limit: float | None = 30.0,
    time_threshold: float = 60.0,
    kernel_size: float = float(ROBOT_DEFAULTS["kernel_size"]),
    max_kernel_radius: float = float(ROBOT_DEFAULTS["max_kernel_radius"]),
    min_nb_nodes: int = int(ROBOT_DEFAULTS["min_nb_nodes"]),
    nb_points: int = int(ROBOT_DEFAULTS["nb_points"]),
    scribble_indices: Sequence[int] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
    session_id: str | None = None,
    workers: int = 1,
    threads: int = 1,
    quiet: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate ``method`` on every (sequence, scribble) sample (a session).

    ``method``: an :class:`InteractiveMethod`, or a factory making one (a class or a
    ``functools.partial``; required for ``workers > 1``, where each of ``workers``
    processes makes its own). Sessions are independent; their reports are concatenated
    in (sequence, scribble) order whatever the scheduling, and each process uses
    ``threads`` torch/BLAS threads, so the scores do not depend on ``workers``.
    Reads frames, annotations and ``Scribbles/<seq>/*.json`` from ``dataset_root``
    (DAVIS layout); ``scribble_indices`` restricts to those 1-based scribble numbers;
    ``extra[seq]`` is passed to the method as ``VideoData.extra``. ``max_time`` and
    ``interaction_limit`` are seconds per object. Returns the report (``REPORT_COLUMNS``)
    and the summary of :func:`gnnannot.ivos.summary.summarize_report`. Flags (timeouts,
    slow interactions) are in ``report.attrs["flags"]`` and logged; every session's
    ``(sequence, scribble_idx, n_objects)`` is in ``report.attrs["samples"]``.
    """
    if workers < 1 or threads < 1:
        raise ConfigError(f"workers and threads must be >= 1, found {workers}, {threads}")
    robot = {"kernel_size": kernel_size, "max_kernel_radius": max_kernel_radius,
             "min_nb_nodes": min_nb_nodes, "nb_points": nb_points}
    ScribbleRobot(**robot)  # bad robot options fail here, not in a worker
    session_id = session_id or uuid.uuid4().hex
    if not sequences:
        raise DataError(f"{dataset_root}: no sequence to evaluate")
    session = {"max_interactions": max_interactions, "metric": metric, "max_time": max_time,
               "interaction_limit": interaction_limit, "session_id": session_id}
    tasks: list[_Task] = []
    for seq in sequences:
        paths = davis.scribble_paths(dataset_root, seq)
        if not paths:
            raise DataError(f"{davis.scribbles_dir(dataset_root, seq)}: no scribble JSON files")
        for p in paths:
            try:
                idx = int(p.stem)
            except ValueError as exc:
                raise DataError(f"{p}: scribble files must be named <nnn>.json") from exc
            if scribble_indices is None or idx in scribble_indices:
                tasks.append(_Task(str(dataset_root), seq, idx, str(p),
                                   dict((extra or {}).get(seq, {})), session, robot))
    if not tasks:
        raise DataError(f"{dataset_root}: no scribble matches indices {scribble_indices}")

    reports: list[pd.DataFrame] = []
    flags: list[dict[str, Any]] = []
    samples: list[tuple[str, int, int]] = []
    with make_progress(quiet) as progress:
        bar = progress.add_task(f"interactive benchmark ({session_id})", total=len(tasks))
        for task, out in zip(tasks, _outcomes(tasks, method, workers, threads), strict=True):
            samples.append((task.sequence, task.scribble_idx, out.n_objects))
            reports.append(out.report)
            flags.extend(out.flags)
            for f in out.flags:
                if f["flag"] == "timeout":
                    log(f"[yellow]{task.sequence} #{task.scribble_idx}: timeout after "
                        f"{f['interactions']} interactions[/]", quiet)
            progress.advance(bar)
    report = pd.concat(reports, ignore_index=True) if reports else pd.DataFrame(
        columns=REPORT_COLUMNS
    )
    report.attrs["flags"] = flags
    report.attrs["samples"] = samples
    summary = summarize_report(
        report,
        metric=metric,
        max_time=max_time,
        max_interactions=max_interactions,
        time_threshold=time_threshold,
        samples=samples,
    )
    return report, summary
