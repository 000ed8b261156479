"""The features stage: per-superpixel constant node features and appearance descriptors
(:mod:`gnnannot.preprocess.features`, :mod:`gnnannot.preprocess.descriptors`) of every
video into a features store (:mod:`gnnannot.store.features`). Per-video incremental:
groups whose fingerprint (descriptor, dtype, superpixels and flow) matches are kept."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.pipeline.chunks import frame_chunks, run_chunked
from gnnannot.pipeline.executor import Executor
from gnnannot.pipeline.runner import (
    ExecutorConfig,
    VideoTask,
    dataset_sequences,
    flow_fingerprint,
    run_videos,
)
from gnnannot.preprocess.descriptors import Descriptor
from gnnannot.preprocess.features import NODE_FEATURE_NAMES, video_features
from gnnannot.preprocess.flow.frames import FrameFlows
from gnnannot.store.base import files_digest, fingerprint, is_up_to_date
from gnnannot.store.features import write_features
from gnnannot.store.flow import open_flow
from gnnannot.store.superpixels import open_superpixels

__all__ = ["FeatureConfig", "build_feature_store", "descriptor_config", "feature_chunk",
           "feature_chunked_job", "feature_job"]

STAGE_VERSION = 2  # 2: gradient magnitude without cv2.magnitude (bit-stable descriptors)
DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class FeatureConfig:
    """The ``features`` section of params.yaml (its defaults are these)."""

    descriptor: str = "colour"  # colour | cnn (cnn needs cnn_weights)
    cnn_weights: str = ""  # a local MobileNetV2 state dict (torchvision layout)
    cnn_layer: int = 14
    dtype: str = "float16"  # float16 | float32
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"features.dtype must be float16 or float32, found {self.dtype!r}")
        if self.descriptor not in ("colour", "cnn"):
            raise ConfigError(f"features.descriptor must be 'colour' or 'cnn', found "
                              f"{self.descriptor!r}")  # fmt: skip


def descriptor_config(kind: str, cnn_weights: str | None, cnn_layer: int) -> dict[str, Any]:
    """JSON-able descriptor settings for fingerprints (the weights file by content)."""
    cfg: dict[str, Any] = {"kind": kind}
    if kind == "cnn":
        if not cnn_weights or not Path(cnn_weights).is_file():
            raise ConfigError(f"features.cnn_weights: weights file {cnn_weights!r} not found")
        cfg.update(weights=files_digest([cnn_weights]), layer=cnn_layer)
    return cfg


def _open_inputs(
    root: str, seq: str, sp_store: str, flow_store: str | None
) -> tuple[Any, FrameFlows, list[Path]]:
    spv = open_superpixels(sp_store, seq)
    flows = FrameFlows(open_flow(flow_store, seq) if flow_store else None, spv.n_frames)
    paths = davis.frame_paths(root, seq)
    if len(paths) != spv.n_frames:
        raise DataError(f"{sp_store}/{seq}: {spv.n_frames} label frames, {len(paths)} images")
    return spv, flows, paths


def _frame_range_features(
    spv: Any, flows: FrameFlows, paths: list[Path], descriptor: Descriptor, start: int,
    stop: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`video_features` of frames ``start..stop-1`` (one frame at a time: memory
    stays bounded on long videos)."""
    counts = np.diff(spv.offsets)[start:stop]
    frames = (davis.read_image(paths[t]) for t in range(start, stop))
    labels = (spv.local(t) for t in range(start, stop))
    return video_features(frames, labels, counts, _Shifted(flows, start), descriptor)


class _Shifted:
    """``flows`` seen from frame ``start``: frame t of a chunk is frame start + t."""

    def __init__(self, flows: FrameFlows, start: int) -> None:
        self.flows, self.start = flows, start

    def fwd(self, t: int) -> np.ndarray | None:
        return self.flows.fwd(self.start + t)

    def bwd(self, t: int) -> np.ndarray | None:
        return self.flows.bwd(self.start + t)

    def occ_next(self, t: int) -> np.ndarray | None:
        return self.flows.occ_next(self.start + t)

    def occ_prev(self, t: int) -> np.ndarray | None:
        return self.flows.occ_prev(self.start + t)


def _descriptor(desc: dict[str, Any]) -> Descriptor:
    return Descriptor(desc["kind"], desc.get("weights_path"), desc.get("layer", 14))


def _write(
    store: str, seq: str, spv: Any, f: np.ndarray, d: np.ndarray, cnt: np.ndarray,
    descriptor: Descriptor, desc: dict[str, Any], dtype: str, fp: str,
) -> dict[str, Any]:  # fmt: skip
    attrs = {
        "fingerprint": fp,
        "superpixels_fingerprint": spv.fingerprint,
        "feature_names": list(NODE_FEATURE_NAMES),
        "descriptor": desc["kind"],
        "descriptor_names": list(descriptor.names),
        "n_frames": spv.n_frames,
    }
    write_features(store, seq, f, d, cnt, spv.offsets, attrs, dtype)
    return {"seq": seq, "n_nodes": int(f.shape[0])}


def feature_job(
    root: str, seq: str, store: str, sp_store: str, flow_store: str | None,
    desc: dict[str, Any], dtype: str, fp: str,
) -> dict[str, Any]:  # fmt: skip
    """Compute and write the features of one video (a :func:`run_videos` job)."""
    spv, flows, paths = _open_inputs(root, seq, sp_store, flow_store)
    descriptor = _descriptor(desc)
    f, d, cnt = _frame_range_features(spv, flows, paths, descriptor, 0, spv.n_frames)
    return _write(store, seq, spv, f, d, cnt, descriptor, desc, dtype, fp)


def feature_chunk(
    root: str, seq: str, sp_store: str, flow_store: str | None, desc: dict[str, Any],
    start: int, stop: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Node features, descriptors and pixel counts of frames ``start..stop-1`` (a chunk
    job of :func:`feature_chunked_job`; every frame's features are its own)."""
    spv, flows, paths = _open_inputs(root, seq, sp_store, flow_store)
    return _frame_range_features(spv, flows, paths, _descriptor(desc), start, stop)


def feature_chunked_job(
    root: str, seq: str, store: str, sp_store: str, flow_store: str | None,
    desc: dict[str, Any], dtype: str, fp: str, *, executor: Executor, quiet: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """:func:`feature_job` with the frames in chunks on ``executor`` (the same bytes: the
    chunks' rows concatenated in frame order)."""
    spv, _, _ = _open_inputs(root, seq, sp_store, flow_store)
    descriptor = _descriptor(desc)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    run_chunked(executor, feature_chunk, (root, seq, sp_store, flow_store, desc),
                frame_chunks(spv.n_frames, executor.workers), parts.append,
                description="features", label=seq, quiet=quiet)  # fmt: skip
    f, d, cnt = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return _write(store, seq, spv, f, d, cnt, descriptor, desc, dtype, fp)


def build_feature_store(
    root: str,
    store: str,
    sp_store: str,
    flow_store: str | None,
    config: FeatureConfig | None = None,
    *,
    sequences: list[str] | None = None,
    executor: Executor | None = None,
    quiet: bool = False,
    chunks: bool = True,
    **options: Any,
) -> dict[str, list[str]]:
    """Features of every video (default: the train and val splits of ``root``) into
    ``store``; groups of other videos are removed when ``sequences`` is None.
    config: the stage's :class:`FeatureConfig` (or its fields as keyword ``options``);
    executor: where the videos run (default: serially in this process; the stage passes
    its config's; the cnn descriptor always runs serially: torch uses its own threads);
    chunks: split a video into frame chunks over the executor's workers when there are
    fewer videos than workers (the same bytes; False: one job per video).
    Returns ``{"computed", "kept", "removed"}``."""
    cfg = replace(config or FeatureConfig(), **options)
    weights = cfg.cnn_weights or None
    desc = descriptor_config(cfg.descriptor, weights, cfg.cnn_layer)
    if cfg.descriptor == "cnn":
        Descriptor("cnn", weights, cfg.cnn_layer)  # fail early on a bad weights file
        executor = None
    seqs = dataset_sequences(root) if sequences is None else list(sequences)

    def plan(seq: str) -> VideoTask:
        spv = open_superpixels(sp_store, seq)
        fp = fingerprint("features", STAGE_VERSION, desc, cfg.dtype, spv.fingerprint,
                         flow_fingerprint(flow_store, seq))  # fmt: skip
        d = {**desc, "weights_path": weights, "layer": cfg.cnn_layer}
        return VideoTask(seq, fp, (root, seq, store, sp_store, flow_store, d, cfg.dtype, fp),
                         spv.n_frames)  # fmt: skip

    return run_videos(
        store, name="features", kind="features", sequences=seqs, plan=plan, job=feature_job,
        up_to_date=is_up_to_date, keep=seqs if sequences is None else None,
        executor=executor, quiet=quiet, chunked=feature_chunked_job if chunks else None,
    )  # fmt: skip
