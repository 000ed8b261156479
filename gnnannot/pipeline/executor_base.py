"""What every executor shares (:mod:`gnnannot.pipeline.executor` has the local ones and
the contract): :class:`JobFailed`, the :class:`Executor` protocol, the job labels and the
largest-first order, and the registry of executor kinds. Executor plug-ins (e.g.
:mod:`gnnannot.pipeline.dask_executor`) import this module only, so the registry that
loads them by name and the plug-ins form no cycle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gnnannot.errors import GnnAnnotError

__all__ = ["Executor", "JobFailed", "call_job", "job_labels", "job_order", "register_executor",
           "registered"]


class JobFailed(GnnAnnotError):
    """A job of a stage failed; ``label`` names it (the video, or video:frames)."""

    def __init__(self, label: str, cause: BaseException | str) -> None:
        self.label = label
        self.cause = cause
        what = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"job {label!r} failed: {what}")


class Executor(Protocol):
    """Runs the jobs of one stage. ``name`` is the registry key, ``workers`` the number
    of jobs that may run at once."""

    name: str
    workers: int

    def run(
        self,
        fn: Callable[..., Any],
        jobs: Sequence[tuple[Any, ...]],
        *,
        description: str,
        quiet: bool = False,
        sizes: Sequence[int] | None = None,
        labels: Sequence[str] | None = None,
    ) -> list[Any]:
        """``[fn(*job) for job in jobs]``, run wherever this executor runs work.

        sizes: optional cost of each job (frame count); larger jobs start first so that a
        long video does not start last and run alone. labels: a name per job for progress
        and for :class:`JobFailed` (default: the job's index)."""
        ...


def job_labels(jobs: Sequence[tuple[Any, ...]], labels: Sequence[str] | None) -> list[str]:
    if labels is not None and len(labels) == len(jobs):
        return [str(x) for x in labels]
    return [f"#{i}" for i in range(len(jobs))]


def job_order(n: int, sizes: Sequence[int] | None) -> list[int]:
    order = list(range(n))
    if sizes is not None and len(sizes) == n:
        order.sort(key=lambda i: -sizes[i])  # stable: ties keep the job order
    return order


def call_job(fn: Callable[..., Any], job: tuple[Any, ...], label: str) -> Any:
    """``fn(*job)`` (also ``call_job(future.result, (), label)`` for a finished future);
    an error other than a GnnAnnotError becomes :class:`JobFailed` naming ``label``."""
    try:
        return fn(*job)
    except GnnAnnotError:
        raise
    except Exception as exc:
        raise JobFailed(label, exc) from exc


_REGISTRY: dict[str, Callable[..., Executor]] = {}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``factory(workers=..., address=..., **options)`` available as ``kind: name``."""
    _REGISTRY[name] = factory


def registered() -> dict[str, Callable[..., Executor]]:
    """The registered executor factories by kind (the registry itself)."""
    return _REGISTRY
