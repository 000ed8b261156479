"""Frame chunks: one video's per-frame work spread over an executor's workers.

A stage whose videos are fewer than its executor's workers (one user video in
``gnnannot segment`` / ``annotate``, the usual case) would leave workers idle when it ran
one job per video. Instead the stage splits the video into frame ranges
(:func:`frame_chunks`), runs one job per range on the executor (any kind: the
:class:`~gnnannot.pipeline.executor.Executor` contract, results in job order) and
assembles the results in frame order in the calling process, which writes the store
exactly as the unchunked job does (same arrays, same order: the same bytes).

Memory stays bounded: the chunks run in waves of ``workers`` jobs (Dask: 4 per worker,
its runs cost a connection), and each wave's results are consumed (written) before the
next wave starts (:func:`run_chunked`), so at most ``workers * max_chunk`` frames of
results are held at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from gnnannot.errors import ConfigError
from gnnannot.pipeline.executor_base import Executor

__all__ = ["MAX_CHUNK_FRAMES", "frame_chunks", "run_chunked", "use_chunks"]

#: Frames per chunk at most (bounds the results a wave holds: ~8 MiB per flow pair and
#: ~2 MiB per superpixel frame at 854x480).
MAX_CHUNK_FRAMES = 12


def frame_chunks(n: int, workers: int, max_chunk: int | None = None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in order: a multiple of ``workers``
    chunks (so that every wave fills the workers) of near-equal size, none longer than
    ``max_chunk`` (default :data:`MAX_CHUNK_FRAMES`, read at call time); fewer when ``n``
    is small (never an empty chunk)."""
    max_chunk = MAX_CHUNK_FRAMES if max_chunk is None else max_chunk
    if n < 0 or workers < 1 or max_chunk < 1:
        raise ConfigError(f"frame_chunks: need n >= 0, workers >= 1, max_chunk >= 1; "
                          f"found {n}, {workers}, {max_chunk}")  # fmt: skip
    if n == 0:
        return []
    k = min(n, workers * math.ceil(n / (workers * max_chunk)))
    base, extra = divmod(n, k)
    out, start = [], 0
    for i in range(k):
        stop = start + base + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def use_chunks(executor: Executor | None, n_videos: int, n_frames: int) -> bool:
    """Whether to split videos into frame chunks: more workers than videos to run, and a
    video long enough to split."""
    return executor is not None and executor.workers > max(1, n_videos) and n_frames > 1


def run_chunked(
    executor: Executor,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    chunks: Sequence[tuple[int, int]],
    consume: Callable[[Any], None],
    *,
    description: str,
    label: str,
    quiet: bool = True,
) -> None:
    """``consume(fn(*args, start, stop))`` for every chunk, in chunk order; the jobs run on
    ``executor`` in waves of ``executor.workers`` chunks (memory: one wave's results),
    times the executor's ``chunk_wave_per_worker`` where it has one (an executor whose
    :meth:`run` costs a start-up, e.g. Dask's)."""
    wave = max(1, executor.workers * int(getattr(executor, "chunk_wave_per_worker", 1)))
    for i in range(0, len(chunks), wave):
        part = chunks[i:i + wave]
        results = executor.run(
            fn, [(*args, a, b) for a, b in part], description=description, quiet=quiet,
            sizes=[b - a for a, b in part], labels=[f"{label}:{a}-{b}" for a, b in part],
        )  # fmt: skip
        for r in results:
            consume(r)
