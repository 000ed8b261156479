"""The ``dask`` executor: the per-video jobs of a stage on a Dask cluster.

``make_executor("dask", workers, address=...)`` with ``address``:

* ``"local"`` (default): a :class:`distributed.LocalCluster` of ``workers`` worker processes,
  one thread each, started for the stage and closed after it;
* ``"tcp://host:8786"``: an existing scheduler (``dask scheduler`` / ``dask worker``, or
  dask-jobqueue on Slurm/PBS; see the README's "Scale out").

The stage process only schedules: each job is one task (``fn(*job)``), submitted largest
first (``sizes``), one per worker thread at a time (the next when one ends), and the
results come back in job order. Progress shows finished tasks out of all. Workers write
their own zarr groups (a temporary directory renamed into place on success,
:func:`gnnannot.io.graph_store.group_writer`), so the stores must be on storage every
worker reaches, at the same path relative to ``workdir`` (default: the stage's working
directory; the stage paths are relative to it).

Failures: a job that raises makes the stage raise :class:`JobFailed` naming the job (the
video) and the worker's error (a :class:`gnnannot.errors.GnnAnnotError` from the job is
re-raised unchanged, like the local executors do). A worker that dies while running a job
(killed, out of memory) raises ``KilledWorker`` after ``allowed_failures`` further
attempts (0 here for a LocalCluster: the first death fails the job; a remote scheduler uses
its own settings, see :func:`local_scheduler_config`); the stage names the video.
After a failure nothing more is submitted and the executor waits for the running tasks to
end, so no writer outlives the stage; the groups they completed are kept by the next
(incremental) run, which also deletes the dead writer's temporary directory
(``clean_temporaries``).

Byte-identical outputs: every worker runs OpenCV, torch and Blosc on one thread (the
process pool's :func:`gnnannot.pipeline.executor.worker_init` settings; the nanny already
sets ``OMP/MKL/OPENBLAS_NUM_THREADS=1``), so the arrays equal the local executors'.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gnnannot.errors import ConfigError, GnnAnnotError
from gnnannot.pipeline.executor_base import JobFailed, job_labels, job_order, register_executor

#: Attempts after a worker death before a task fails, for a LocalCluster started here.
LOCAL_ALLOWED_FAILURES = 0

_WORKER_READY = False


def local_scheduler_config(allowed_failures: int = LOCAL_ALLOWED_FAILURES) -> dict[str, Any]:
    """Scheduler settings for a stage's own cluster: a task fails after
    ``allowed_failures`` worker deaths. A remote scheduler takes it from its environment
    (``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0``)."""
    return {"distributed.scheduler.allowed-failures": int(allowed_failures)}


def _worker_setup() -> None:
    """Once per worker process: single-threaded OpenCV, torch and Blosc decompression
    (the cluster's processes already fill the cores; threads also change float sums)."""
    global _WORKER_READY
    if _WORKER_READY:
        return
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass
    try:
        import numcodecs.blosc

        numcodecs.blosc.use_threads = False
    except Exception:  # pragma: no cover - older numcodecs
        pass
    import sys

    if "torch" in sys.modules:  # only where a job already uses torch
        sys.modules["torch"].set_num_threads(1)
    _WORKER_READY = True


def run_job(fn: Callable[..., Any], job: tuple[Any, ...], workdir: str) -> Any:
    """The task body on a worker: set the worker up, run ``fn(*job)`` in ``workdir``."""
    _worker_setup()
    if os.getcwd() != workdir:
        if not os.path.isdir(workdir):
            import socket

            raise GnnAnnotError(
                f"worker on {socket.gethostname()}: the project folder {workdir} is not "
                "there (stores and data must be on storage every worker mounts at the same "
                "path, or set the executor's workdir)"
            )
        os.chdir(workdir)  # one thread per worker: the stage's relative paths resolve here
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    return fn(*job)


def _describe(exc: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (f"the worker running it died (killed, or out of memory) ({exc}); completed "
                "videos are kept, rerun the stage to compute the rest")  # fmt: skip
    return f"{type(exc).__name__}: {exc}"


class DaskExecutor:
    """Runs jobs as tasks on a Dask cluster (see the module docstring).

    workers: worker processes of a LocalCluster (``address="local"``); for a remote
    scheduler the number the stage waits for before submitting (0: don't wait).
    allowed_failures: worker deaths a task survives (LocalCluster only; default 0).
    workdir: folder every worker runs jobs in (default: this process's working directory).
    timeout: seconds to wait for the scheduler and the workers."""

    name = "dask"
    #: frame chunks per :meth:`run` when a stage splits one video
    #: (:func:`gnnannot.pipeline.chunks.run_chunked`), per worker: each run connects (a
    #: LocalCluster starts per run), so waves are longer than the process pool's
    chunk_wave_per_worker = 4

    def __init__(
        self,
        workers: int = 1,
        address: str = "local",
        allowed_failures: int = LOCAL_ALLOWED_FAILURES,
        workdir: str | None = None,
        timeout: float = 60.0,
        **options: Any,
    ) -> None:
        if options:
            raise ConfigError(
                f"executor kind 'dask': unknown option(s) {sorted(options)} (expected "
                "workers, address, allowed_failures, workdir, timeout)"
            )
        address = str(address)
        if address != "local" and not address.startswith(("tcp://", "tls://", "inproc://")):
            raise ConfigError(
                f"executor kind 'dask': address must be 'local' or a scheduler address "
                f"like tcp://host:8786, found {address!r}"
            )
        self.workers = max(1, int(workers)) if address == "local" else max(0, int(workers))
        self.address = address
        self.allowed_failures = int(allowed_failures)
        self.workdir = os.path.abspath(workdir or os.getcwd())
        self.timeout = float(timeout)

    def _connect(self) -> tuple[Any, Any]:
        """``(client, cluster)``; cluster is None for a remote scheduler."""
        import dask
        from distributed import Client, LocalCluster

        if self.address == "local":
            with dask.config.set(local_scheduler_config(self.allowed_failures)):
                cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=40,  # logging.ERROR
                )  # fmt: skip
            return Client(cluster, timeout=self.timeout), cluster
        try:
            client = Client(self.address, timeout=self.timeout)
        except OSError as exc:
            raise ConfigError(f"executor kind 'dask': no scheduler at {self.address} "
                              f"({exc})") from exc  # fmt: skip
        if self.workers:
            client.wait_for_workers(self.workers, timeout=self.timeout)
        return client, None

    def run(self, fn, jobs, *, description, quiet=False, sizes=None, labels=None):
        if not jobs:
            return []
        from collections import deque

        from distributed import as_completed

        from gnnannot.progress import make_progress

        names = job_labels(jobs, labels)
        results: list[Any] = [None] * len(jobs)
        pending = deque(job_order(len(jobs), sizes))  # larger jobs first
        tag = f"{description}-{os.getpid()}"
        client, cluster = self._connect()
        try:
            futs: dict[Any, int] = {}
            running = as_completed()

            def fill() -> None:
                # one task per worker thread at a time: a worker then holds no queued
                # task that its death would fail too, and the order stays largest first
                slots = max(1, sum(client.nthreads().values()))
                while pending and running.count() < slots:
                    i = pending.popleft()
                    fut = client.submit(run_job, fn, tuple(jobs[i]), self.workdir,
                                        pure=False, retries=0, key=f"{tag}-{i}")  # fmt: skip
                    futs[fut] = i
                    running.add(fut)

            failure: tuple[int, BaseException] | None = None
            with make_progress(quiet) as progress:
                task = progress.add_task(f"{description} (dask)", total=len(jobs))
                fill()
                for fut in running:
                    i = futs.pop(fut)
                    if fut.status == "finished":
                        results[i] = fut.result()
                        progress.advance(task)
                    elif failure is None:
                        failure = (i, fut.exception())
                        pending.clear()  # submit nothing more; let the running tasks end
                        progress.update(task, description=f"{description} (dask): "
                                        f"{names[i]} failed, waiting for the running tasks")
                    fut.release()
                    fill()
            if failure is not None:
                i, exc = failure
                if isinstance(exc, GnnAnnotError):
                    raise exc
                raise JobFailed(names[i], _describe(exc)) from exc
            return results
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


register_executor("dask", DaskExecutor)
