"""The one per-video incremental runner of the preprocessing stages.

Every stage (flow, superpixels, features, graphs) fills one zarr store with one group per
video in the same steps, written here once (:func:`run_videos`):

1. hold the store's writer lock (:func:`gnnannot.store.guard.store_lock`; it also deletes
   dead writers' temporaries) and create the root group;
2. prune: delete the groups of videos no longer in the dataset;
3. plan: for every video, the stage's ``plan(seq)`` gives a :class:`VideoTask` (the key a
   stored group must match to be kept, the job's arguments, its cost);
4. skip the videos whose stored group is up to date (``up_to_date(store, seq, key)``);
5. run ``job(*task.args)`` for the others on an :class:`~gnnannot.pipeline.executor.Executor`
   (each job writes its group atomically);
6. a failed first run removes the store it created, so nothing that looks valid is left.

A stage's executor comes from its params (``executor: {kind, workers, ...}``,
:class:`ExecutorConfig`); see :mod:`gnnannot.pipeline.executor` for the kinds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.pipeline.executor import Executor, SerialExecutor, make_executor
from gnnannot.progress import log
from gnnannot.store.base import ensure_store, fingerprint, list_videos, prune
from gnnannot.store.flow import open_flow
from gnnannot.store.guard import store_lock

__all__ = ["ExecutorConfig", "VideoTask", "dataset_sequences", "flow_fingerprint",
           "run_videos"]


@dataclass(frozen=True)
class ExecutorConfig:
    """Where a stage's per-video jobs run (the ``executor`` section of a stage's params):
    ``kind`` (serial | process | dask | any registered one), ``workers`` and the kind's
    own ``options`` (e.g. a Dask scheduler ``address``: any further key of the section)."""

    kind: str = "process"
    workers: int = 2
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: dict[str, Any] | None, where: str) -> ExecutorConfig:
        d = dict(section or {})
        kind, workers = d.pop("kind", cls.kind), d.pop("workers", cls.workers)
        if not isinstance(kind, str):
            raise ConfigError(f"{where}.kind must be str, found {kind!r}")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError(f"{where}.workers must be an int >= 1, found {workers!r}")
        return cls(kind, workers, d)

    def as_section(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, **self.options}

    def make(self) -> Executor:
        """The executor this section describes."""
        return make_executor(self.kind, self.workers, **self.options)


@dataclass(frozen=True)
class VideoTask:
    """One video's planned job: ``key`` is what its stored group must match to be kept
    (a fingerprint, or the attrs a flow group holds), ``args`` the job's arguments and
    ``size`` its cost (frames: larger jobs start first)."""

    seq: str
    key: Any
    args: tuple[Any, ...]
    size: int = 1


def run_videos(
    store: str | os.PathLike[str],
    *,
    name: str,
    kind: str | None,
    sequences: Sequence[str],
    plan: Callable[[str], VideoTask],
    job: Callable[..., Any],
    up_to_date: Callable[[str | os.PathLike[str], str, Any], bool],
    keep: Iterable[str] | None = None,
    executor: Executor | None = None,
    root_attrs: dict[str, Any] | None = None,
    quiet: bool = False,
    before_jobs: Callable[[], None] | None = None,
    chunked: Callable[..., Any] | None = None,
) -> dict[str, list[str]]:
    """Bring ``store`` up to date for ``sequences`` (the steps in the module docstring).

    kind: the store's schema kind (``ensure_store``; None: a root group without attrs);
    keep: prune groups of videos not named here (None: prune nothing); executor: where
    the jobs run (default: serially in this process); before_jobs: called once before
    jobs start when there are any (e.g. an import the forked workers then share);
    chunked: the stage's frame-chunked variant of ``job``
    (``chunked(*task.args, executor=..., quiet=...)``, run in this process, spreading one
    video's frames over the executor's workers: :mod:`gnnannot.pipeline.chunks`), used
    when fewer videos are to compute than the executor has workers; it writes the same
    bytes as ``job``.
    Returns ``{"computed": [...], "kept": [...], "removed": [...]}``.
    """
    with store_lock(store):  # removes its lock file when no store is left
        created = not Path(store).exists()
        try:
            return _run(store, name, kind, list(sequences), plan, job, up_to_date, keep,
                        executor or SerialExecutor(), root_attrs or {}, quiet,
                        before_jobs, chunked)  # fmt: skip
        except BaseException:
            if created and not list_videos(store, complete_only=False):
                shutil.rmtree(store, ignore_errors=True)  # a failed first run leaves nothing
            raise


def _run(
    store: str | os.PathLike[str], name: str, kind: str | None, sequences: list[str],
    plan: Callable[[str], VideoTask], job: Callable[..., Any],
    up_to_date: Callable[[str | os.PathLike[str], str, Any], bool],
    keep: Iterable[str] | None, executor: Executor, root_attrs: dict[str, Any], quiet: bool,
    before_jobs: Callable[[], None] | None, chunked: Callable[..., Any] | None,
) -> dict[str, list[str]]:  # fmt: skip
    ensure_store(store, kind, **root_attrs)
    removed = prune(store, keep) if keep is not None else []
    tasks, kept = [], []
    for seq in sequences:
        task = plan(seq)
        if up_to_date(store, seq, task.key):
            kept.append(seq)
        else:
            tasks.append(task)
    log(f"{name}: {len(tasks)} to compute, {len(kept)} up to date, {len(removed)} removed",
        quiet)  # fmt: skip
    if tasks:
        if before_jobs is not None:
            before_jobs()
        if chunked is not None and executor.workers > len(tasks):
            for t in tasks:  # one video after the other, each over all the workers
                chunked(*t.args, executor=executor, quiet=quiet)
            return {"computed": [t.seq for t in tasks], "kept": kept, "removed": removed}
        executor.run(job, [t.args for t in tasks], description=name, quiet=quiet,
                     sizes=[t.size for t in tasks], labels=[t.seq for t in tasks])  # fmt: skip
    return {"computed": [t.seq for t in tasks], "kept": kept, "removed": removed}


def dataset_sequences(
    root: str | os.PathLike[str], splits: Iterable[str] = ("train", "val")
) -> list[str]:
    """Sequences listed in the given splits of a DAVIS-layout dataset (order kept, no
    duplicates)."""
    seen: dict[str, None] = {}
    for split in splits:
        for name in davis.read_split(root, split):
            seen.setdefault(name, None)
    return list(seen)


def flow_fingerprint(flow_store: str | os.PathLike[str] | None, seq: str) -> str | None:
    """Fingerprint of the flow group of ``seq`` (its attrs), None without a flow store."""
    if flow_store is None:
        return None
    return fingerprint(open_flow(flow_store, seq).attrs)
