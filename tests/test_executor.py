"""The executor contract (gnnannot.pipeline.executor): job order, failures named, registry."""

from __future__ import annotations

import pytest

from gnnannot.errors import GnnAnnotError
from gnnannot.pipeline.executor import JobFailed, executor_kinds, make_executor


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("bad frame 3")
    return x


@pytest.mark.parametrize("kind,workers", [("serial", 1), ("process", 1), ("process", 2)])
def test_results_in_job_order_largest_first(kind: str, workers: int) -> None:
    ex = make_executor(kind, workers)
    jobs = [(i,) for i in range(6)]
    out = ex.run(_square, jobs, description="t", quiet=True, sizes=[1, 9, 2, 8, 3, 7])
    assert out == [0, 1, 4, 9, 16, 25]


@pytest.mark.parametrize("kind,workers", [("serial", 1), ("process", 2)])
def test_a_failing_job_is_named(kind: str, workers: int) -> None:
    ex = make_executor(kind, workers)
    jobs = [(i,) for i in range(5)]
    labels = [f"video-{i}" for i in range(5)]
    with pytest.raises(JobFailed) as info:
        ex.run(_fail_on_three, jobs, description="t", quiet=True, labels=labels)
    assert info.value.label == "video-3"
    assert "bad frame 3" in str(info.value) and "ValueError" in str(info.value)


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(GnnAnnotError, match=r"executor kind 'slurmish' is unknown.*'process'"):
        make_executor("slurmish")
    assert {"serial", "process"} <= set(executor_kinds())
