"""The superpixels stage: per-video superpixel label volumes (fast SLIC refined at image
and motion edges, :mod:`gnnannot.preprocess.superpixels`) of every video into a
superpixels store (:mod:`gnnannot.store.superpixels`). Per-video incremental: groups
whose fingerprint (params, frame files, flow attrs, SLIC backend) matches are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gnnannot.data import davis
from gnnannot.errors import DataError
from gnnannot.pipeline.chunks import frame_chunks, run_chunked
from gnnannot.pipeline.executor import Executor
from gnnannot.pipeline.runner import (
    ExecutorConfig,
    VideoTask,
    dataset_sequences,
    flow_fingerprint,
    run_videos,
)
from gnnannot.preprocess.flow.frames import FrameFlows
from gnnannot.preprocess.superpixels import (
    SuperpixelParams,
    calibrate_n_base,
    segment_frame,
    segment_video,
    slic_backend,
)
from gnnannot.store.base import files_digest, fingerprint, is_up_to_date
from gnnannot.store.flow import open_flow
from gnnannot.store.superpixels import SuperpixelWriter

__all__ = ["SuperpixelStageConfig", "build_superpixel_store", "superpixel_chunk",
           "superpixel_chunked_job", "superpixel_fingerprint", "superpixel_job"]

STAGE_VERSION = 1


@dataclass(frozen=True)
class SuperpixelStageConfig(SuperpixelParams):
    """The ``superpixels`` section of params.yaml: the segmentation parameters
    (:class:`gnnannot.preprocess.superpixels.SuperpixelParams`) and the executor."""

    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def params(self) -> SuperpixelParams:
        """The segmentation parameters alone (what the fingerprint records)."""
        d = self.to_dict()
        d.pop("executor")
        return SuperpixelParams(**d)


def superpixel_fingerprint(
    params: SuperpixelParams, frames_digest: str, flow_fp: str | None
) -> str:
    # the SLIC backend changes the segments: switching it recomputes the stored videos
    return fingerprint("superpixels", STAGE_VERSION, params.to_dict(), frames_digest, flow_fp,
                       slic_backend())


def superpixel_job(
    root: str, seq: str, store: str, flow_store: str | None, params: dict[str, Any], fp: str
) -> dict[str, Any]:
    """Compute and write the superpixels of one video (a :func:`run_videos` job)."""
    p = SuperpixelParams.from_dict(params)
    paths = davis.frame_paths(root, seq)
    first = davis.read_image(paths[0])
    h, w = first.shape[:2]
    fv = FrameFlows(open_flow(flow_store, seq) if flow_store else None, len(paths))
    attrs = {"fingerprint": fp, "params": p.to_dict(), "backend": slic_backend()}
    frames = (davis.read_image(q) for q in paths)
    pairs = ((fv.fwd(t), fv.bwd(t)) for t in range(len(paths)))
    with SuperpixelWriter(store, seq, len(paths), h, w, attrs) as wr:
        for labels in segment_video(frames, p, pairs):
            if labels.shape != (h, w):
                raise DataError(f"{root}/{seq}: frames differ in size ({labels.shape})")
            wr.write(labels, int(labels.max()) + 1)
    return {"seq": seq, "n_frames": len(paths), "n_nodes": int(sum(wr.counts))}


def superpixel_chunk(
    root: str, seq: str, flow_store: str | None, params: dict[str, Any], n_base: int,
    start: int, stop: int,
) -> list[tuple[np.ndarray, int]]:  # fmt: skip
    """``(labels, count)`` of frames ``start..stop-1`` of one video with the video's
    ``n_base`` (what :func:`segment_video` calibrates on frame 0): a chunk job of
    :func:`superpixel_chunked_job`. Each frame uses only its own image and flows."""
    p = SuperpixelParams.from_dict(params)
    paths = davis.frame_paths(root, seq)
    fv = FrameFlows(open_flow(flow_store, seq) if flow_store else None, len(paths))
    out = []
    for t in range(start, stop):
        labels, _ = segment_frame(davis.read_image(paths[t]), n_base, p, (fv.fwd(t), fv.bwd(t)))
        n = int(labels.max()) + 1
        # labels 0..n-1; the writer keeps uint16 (and refuses more than 65536 labels):
        # half the bytes back to the parent
        out.append((labels.astype(np.uint16) if n <= 65536 else labels, n))
    return out


def superpixel_chunked_job(
    root: str, seq: str, store: str, flow_store: str | None, params: dict[str, Any], fp: str,
    *, executor: Executor, quiet: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """:func:`superpixel_job` with the frames in chunks on ``executor`` (the same bytes):
    ``n_base`` is calibrated here on frame 0, as :func:`segment_video` does."""
    p = SuperpixelParams.from_dict(params)
    paths = davis.frame_paths(root, seq)
    first = davis.read_image(paths[0])
    h, w = first.shape[:2]
    fv = FrameFlows(open_flow(flow_store, seq) if flow_store else None, len(paths))
    n_base = calibrate_n_base(first, p, (fv.fwd(0), fv.bwd(0)))
    attrs = {"fingerprint": fp, "params": p.to_dict(), "backend": slic_backend()}
    with SuperpixelWriter(store, seq, len(paths), h, w, attrs) as wr:

        def consume(chunk: list[tuple[np.ndarray, int]]) -> None:
            for labels, n in chunk:
                if labels.shape != (h, w):
                    raise DataError(f"{root}/{seq}: frames differ in size ({labels.shape})")
                wr.write(labels, n)

        run_chunked(executor, superpixel_chunk, (root, seq, flow_store, params, n_base),
                    frame_chunks(len(paths), executor.workers), consume,
                    description="superpixels", label=seq, quiet=quiet)  # fmt: skip
    return {"seq": seq, "n_frames": len(paths), "n_nodes": int(sum(wr.counts))}


def _import_skimage_measure() -> None:
    import skimage.measure  # noqa: F401 - once here, not in every (forked) worker


def build_superpixel_store(
    root: str,
    store: str,
    flow_store: str | None,
    params: SuperpixelParams | None = None,
    sequences: list[str] | None = None,
    *,
    executor: Executor | None = None,
    quiet: bool = False,
    chunks: bool = True,
) -> dict[str, list[str]]:
    """Superpixels of every video (default: the train and val splits of ``root``) into
    ``store``; groups of other videos are removed when ``sequences`` is None.
    params: a :class:`SuperpixelParams` (or the stage's :class:`SuperpixelStageConfig`);
    executor: where the videos run (default: serially in this process; the stage passes
    its config's); chunks: split a video into frame chunks over the executor's workers
    when there are fewer videos than workers (the same bytes; False: one job per video).
    Returns ``{"computed", "kept", "removed"}``."""
    params = params or SuperpixelParams()
    if isinstance(params, SuperpixelStageConfig):
        params = params.params()
    seqs = dataset_sequences(root) if sequences is None else list(sequences)

    def plan(seq: str) -> VideoTask:
        paths = davis.frame_paths(root, seq)
        fp = superpixel_fingerprint(params, files_digest(paths), flow_fingerprint(flow_store, seq))
        return VideoTask(seq, fp, (root, seq, store, flow_store, params.to_dict(), fp), len(paths))

    return run_videos(
        store, name="superpixels", kind="superpixels", sequences=seqs, plan=plan,
        job=superpixel_job, up_to_date=is_up_to_date, keep=seqs if sequences is None else None,
        executor=executor, quiet=quiet, before_jobs=_import_skimage_measure,
        chunked=superpixel_chunked_job if chunks else None,
    )  # fmt: skip
