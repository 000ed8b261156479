"""The flow stage: forward/backward optical flow and occlusions of every video of a
DAVIS-layout dataset into a flow store (:mod:`gnnannot.store.flow`), with the estimator
``method`` of :mod:`gnnannot.preprocess.flow.registry`. Per-video incremental: a complete
group whose attrs (method, params, size, frame count, frame content digest, code version)
match is kept (:func:`gnnannot.pipeline.runner.run_videos`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.pipeline.chunks import frame_chunks, run_chunked
from gnnannot.pipeline.executor import Executor
from gnnannot.pipeline.runner import ExecutorConfig, VideoTask, run_videos
from gnnannot.preprocess.flow.registry import FlowEstimator, OpenCVEstimator, make_estimator
from gnnannot.store import flow as flow_store
from gnnannot.store.base import files_digest

__all__ = ["FlowConfig", "build_flow_store", "flow_chunk", "flow_chunked_job", "flow_job"]

DTYPES = flow_store.DTYPES


@dataclass(frozen=True)
class FlowConfig:
    """The ``flow`` section of params.yaml (its defaults are these)."""

    method: str = "dis"  # a registered estimator: dis | farneback | h5
    preset: str = "medium"  # DIS preset: ultrafast | fast | medium
    scale: float = 1.0  # compute at this fraction of the resolution (0 < scale <= 1)
    dtype: str = "quantized"  # storage: quantized | float16 | float32
    h5_dir: str = ""  # folder of <seq>.h5 / flownet2_<seq>.h5 when method == h5
    occ_spread: float = 0.0  # splat +-spread px around each target
    occ_exclude_out_of_frame: bool = False
    executor: ExecutorConfig = field(default_factory=lambda: ExecutorConfig(workers=1))

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"flow.dtype must be one of {DTYPES}, found {self.dtype!r}")

    def estimator(self) -> FlowEstimator:
        """The configured estimator (ConfigError for a bad method or its options)."""
        if self.method == "h5":
            return make_estimator("h5", h5_dir=self.h5_dir)
        if self.method in ("dis", "farneback"):
            return make_estimator(self.method, preset=self.preset, scale=self.scale,
                                  spread=self.occ_spread,
                                  exclude_out_of_frame=self.occ_exclude_out_of_frame)  # fmt: skip
        return make_estimator(self.method)


def flow_job(
    root: str, seq: str, store: str, estimator: FlowEstimator, key: dict[str, Any]
) -> str:
    """Compute (or import) and write the flow of one video (a :func:`run_videos` job)."""
    with flow_store.FlowWriter(
        store, seq, key["n_frames"], key["height"], key["width"], key["method"],
        key["params"], dtype=key["params"]["dtype"], frames_digest=key["frames_digest"],
    ) as writer:  # fmt: skip
        frames = davis.iter_frames(root, seq)
        for pair in estimator.pairs(seq, frames, key["n_frames"], key["height"], key["width"]):
            writer.write(pair.forward, pair.backward, pair.occ_forward, pair.occ_backward)
    return seq


def pack_quantized(flow: np.ndarray) -> tuple[str, Any]:
    """A flow for the trip from a chunk job to the writer: with ``quantized`` storage the
    writer keeps ``round(flow / QUANT_STEP) * QUANT_STEP`` (float32; QUANT_STEP = 1/128,
    a power of two, so the values are exactly ``q / 128`` with integer q), so q travels as
    int16 (half the bytes of float32) and the sign of the zeros as a bit mask;
    :func:`unpack_quantized` rebuilds exactly what the writer would have kept, which it
    keeps unchanged. Flows outside int16's range (or not finite) travel as they are."""
    v = np.round(flow.astype(np.float32) * np.float32(1 / flow_store.QUANT_STEP))
    if not np.isfinite(v).all() or np.abs(v).max(initial=0) > np.iinfo(np.int16).max:
        return "raw", flow
    negzero = np.signbit(v) & (v == 0)
    return "q16", (v.astype(np.int16), np.packbits(negzero.ravel()) if negzero.any() else None)


def unpack_quantized(packed: tuple[str, Any]) -> np.ndarray:
    """The flow :func:`pack_quantized` packed (already on the quantized grid)."""
    kind, data = packed
    if kind == "raw":
        return data
    q, negzero = data
    v = q.astype(np.float32)
    v *= np.float32(flow_store.QUANT_STEP)
    if negzero is not None:
        v.ravel()[np.unpackbits(negzero, count=v.size).astype(bool)] = -0.0
    return v


def flow_chunk(
    root: str, seq: str, estimator: FlowEstimator, key: dict[str, Any], start: int, stop: int
) -> list[tuple[Any, ...]]:
    """The flow pairs ``start..stop-1`` (pair t: frames t and t+1) of one video as
    ``(forward, backward, occ_forward, occ_backward)``: a chunk job of
    :func:`flow_chunked_job` (every pair uses only its two frames). With quantized
    storage the flows come packed (:func:`pack_quantized`), the occlusions as bit masks."""
    paths = davis.frame_paths(root, seq)
    frames = (davis.read_image(paths[t]) for t in range(start, stop + 1))
    pairs = estimator.pairs(seq, frames, stop + 1 - start, key["height"], key["width"])
    quantized = key["params"]["dtype"] == "quantized"
    out = []
    for p in pairs:
        fw, bw = ((pack_quantized(p.forward), pack_quantized(p.backward)) if quantized
                  else (("raw", p.forward), ("raw", p.backward)))  # fmt: skip
        out.append((fw, bw, np.packbits(p.occ_forward.ravel()),
                    np.packbits(p.occ_backward.ravel())))  # fmt: skip
    return out


def flow_chunked_job(
    root: str, seq: str, store: str, estimator: FlowEstimator, key: dict[str, Any], *,
    executor: Executor, quiet: bool = True,
) -> str:  # fmt: skip
    """:func:`flow_job` with the pairs in chunks on ``executor`` (the same bytes); an
    estimator that reads flow from files (``h5``) runs unchunked."""
    if not isinstance(estimator, OpenCVEstimator):
        return flow_job(root, seq, store, estimator, key)
    h, w = key["height"], key["width"]
    with flow_store.FlowWriter(
        store, seq, key["n_frames"], h, w, key["method"],
        key["params"], dtype=key["params"]["dtype"], frames_digest=key["frames_digest"],
    ) as writer:  # fmt: skip

        def consume(chunk: list[tuple[Any, ...]]) -> None:
            for fw, bw, occ_f, occ_b in chunk:
                writer.write(unpack_quantized(fw), unpack_quantized(bw),
                             np.unpackbits(occ_f, count=h * w).astype(bool).reshape(h, w),
                             np.unpackbits(occ_b, count=h * w).astype(bool).reshape(h, w))

        run_chunked(executor, flow_chunk, (root, seq, estimator, key),
                    frame_chunks(key["n_frames"] - 1, executor.workers), consume,
                    description="flow", label=seq, quiet=quiet)  # fmt: skip
    return seq


def build_flow_store(
    root: str,
    store: str,
    config: FlowConfig | None = None,
    *,
    sequences: list[str] | None = None,
    prune: bool = True,
    executor: Executor | None = None,
    quiet: bool = False,
    chunks: bool = True,
    **options: Any,
) -> dict[str, list[str]]:
    """Fill ``store`` with the flow of every video of the DAVIS-layout dataset at ``root``.

    config: the stage's :class:`FlowConfig` (or its fields as keyword ``options``);
    executor: where the videos run (default: serially in this process; the stage passes
    its config's); chunks: split a video into chunks of frame pairs over the executor's
    workers when there are fewer videos than workers (the same bytes; False: one job per
    video). With ``prune`` groups of
    videos not in the dataset are deleted. Returns ``{"computed", "kept", "removed"}``.
    """
    cfg = replace(config or FlowConfig(), **options)
    estimator = cfg.estimator()
    all_seqs = davis.list_sequences(root)
    seqs = all_seqs if sequences is None else list(sequences)
    missing = sorted(set(seqs) - set(all_seqs))
    if missing:
        raise DataError(f"{root}: sequences not in the dataset: {missing}")

    def plan(seq: str) -> VideoTask:
        paths = davis.frame_paths(root, seq)
        height, width = davis.read_image(paths[0]).shape[:2]
        key = dict(method=estimator.name, params=estimator.record(seq, cfg.dtype),
                   n_frames=len(paths), height=height, width=width,
                   frames_digest=files_digest(paths))  # a changed frame recomputes  # fmt: skip
        return VideoTask(seq, key, (root, seq, store, estimator, key), len(paths))

    def up_to_date(path: Any, seq: str, key: dict[str, Any]) -> bool:
        return flow_store.is_up_to_date(path, seq, **key)

    return run_videos(
        store, name="flow", kind=None, sequences=seqs, plan=plan, job=flow_job,
        up_to_date=up_to_date, keep=all_seqs if prune else None,
        executor=executor, quiet=quiet, chunked=flow_chunked_job if chunks else None,
    )  # fmt: skip
