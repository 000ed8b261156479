"""Executors: where the per-video jobs of a stage run.

A stage builds a list of jobs (one video, or one frame chunk of a long video, each) and
hands them to an executor; the executor runs ``fn(*job)`` for each one and returns the
results in job order. Executors differ only in *where* the work runs:

* ``serial``: in this process, one job after the other;
* ``process``: a local process pool (``workers`` processes);
* ``dask``: a Dask cluster (registered by :mod:`gnnannot.pipeline.dask_executor`).

Add an executor by writing a class with :meth:`Executor.run` and registering a factory
with :func:`register_executor` (both in :mod:`gnnannot.pipeline.executor_base`, which a
plug-in imports instead of this module); stages choose one by name through their params
(``executor: {kind: ..., workers: ..., address: ...}``) and :func:`make_executor`.

Contract every executor keeps:

* results come back in job order whatever order the jobs finish in;
* a failing job raises :class:`JobFailed` naming the job (its ``label``, e.g. the video)
  and the original error; jobs write their own outputs atomically, so a failure never
  leaves a half-written output that looks valid;
* progress is shown per finished job (quiet=True hides it).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gnnannot.errors import GnnAnnotError
from gnnannot.pipeline.executor_base import (
    Executor,
    JobFailed,
    call_job,
    job_labels,
    job_order,
    register_executor,
    registered,
)
from gnnannot.progress import make_progress

__all__ = ["Executor", "JobFailed", "ProcessExecutor", "SerialExecutor", "executor_kinds",
           "make_executor", "register_executor", "worker_init"]


class SerialExecutor:
    """Every job in this process, in job order."""

    name = "serial"

    def __init__(self, workers: int = 1, **_: Any) -> None:
        self.workers = 1

    def run(self, fn, jobs, *, description, quiet=False, sizes=None, labels=None):
        names = job_labels(jobs, labels)
        results: list[Any] = [None] * len(jobs)
        with make_progress(quiet) as progress:
            task = progress.add_task(description, total=len(jobs))
            for i, job in enumerate(jobs):
                results[i] = call_job(fn, job, names[i])
                progress.advance(task)
        return results


@contextmanager
def single_threaded_opencv() -> Iterator[None]:
    """OpenCV on one thread while worker processes run (they already fill the cores).
    Set in the parent before forking: calling ``cv2.setNumThreads`` in a forked child of a
    process that used OpenCV's thread pool hangs."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        yield
        return
    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(prev)


def pool_context() -> Any:
    """``fork`` where available (workers inherit the imported modules: no 1-2 s re-import
    per worker as with ``spawn``; zarr resets its IO thread after a fork), else ``spawn``."""
    import multiprocessing as mp

    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


PARENT_POLL_S = 0.2


def _watch_parent(parent: int) -> None:
    """End this worker process as soon as its parent is gone (a killed stage must not
    leave workers writing or hanging: they would be re-parented, and never told)."""
    import time

    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(PARENT_POLL_S)


def worker_init(parent: int | None = None) -> None:
    """Pool worker set-up: a daemon thread that ends the worker when ``parent`` dies
    (:func:`_watch_parent`), and Blosc decompression on the calling thread only (the
    workers already fill the cores; numcodecs would otherwise start its own threads)."""
    if parent is not None:
        import threading

        if os.getppid() != parent:  # the parent died before this worker started
            os._exit(1)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                         name="watch-parent").start()  # fmt: skip
    try:
        import numcodecs.blosc

        numcodecs.blosc.use_threads = False
    except Exception:  # pragma: no cover - older numcodecs
        pass


class ProcessExecutor:
    """A local process pool of ``workers`` processes (serial when workers <= 1 or there is
    one job). All jobs are submitted before the progress display starts its refresh
    thread, so the workers are forked from a quiet parent."""

    name = "process"

    def __init__(self, workers: int = 1, **_: Any) -> None:
        self.workers = max(1, int(workers))

    def run(self, fn, jobs, *, description, quiet=False, sizes=None, labels=None):
        from concurrent.futures import ProcessPoolExecutor, as_completed

        workers = max(1, min(self.workers, len(jobs)))
        if workers == 1:
            return SerialExecutor().run(
                fn, jobs, description=description, quiet=quiet, labels=labels
            )
        names = job_labels(jobs, labels)
        results: list[Any] = [None] * len(jobs)
        with single_threaded_opencv(), ProcessPoolExecutor(
            workers, mp_context=pool_context(), initializer=worker_init,
            initargs=(os.getpid(),),
        ) as pool:  # fmt: skip
            futs = {pool.submit(fn, *jobs[i]): i for i in job_order(len(jobs), sizes)}
            with make_progress(quiet) as progress:
                task = progress.add_task(description, total=len(jobs))
                for fut in as_completed(futs):
                    i = futs[fut]
                    results[i] = call_job(fut.result, (), names[i])
                    progress.advance(task)
        return results


def executor_kinds() -> list[str]:
    """The registered executor names (``dask`` only once its module is importable)."""
    _load_optional()
    return sorted(registered())


def _load_optional() -> None:
    if "dask" not in registered():
        try:  # by name: the plug-in imports this module, not the other way round
            importlib.import_module("gnnannot.pipeline.dask_executor")  # registers "dask"
        except ImportError:
            pass


def make_executor(kind: str = "process", workers: int = 1, **options: Any) -> Executor:
    """The executor ``kind`` (serial | process | dask | any registered one)."""
    if kind not in registered():
        _load_optional()
    if kind not in registered():
        raise GnnAnnotError(
            f"executor kind {kind!r} is unknown: expected one of {executor_kinds()}"
        )
    return registered()[kind](workers=workers, **options)


register_executor("serial", SerialExecutor)
register_executor("process", ProcessExecutor)
