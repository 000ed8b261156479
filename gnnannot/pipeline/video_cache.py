"""Per-video preprocessing cache: working-resolution frames, optical flow, superpixels,
features and the superpixel graph of a user's video, computed once and reused by every
later interaction or run on the same video.

Location: ``$GNNANNOT_CACHE`` or ``~/.cache/gnnannot`` (or an explicit ``cache_root``),
one folder per key, the SHA-256 of the video's content hash (file bytes, or the frame
files' names and bytes), the preprocessing parameters and the versions of the stages'
code (:func:`code_versions`). Inside, the project's own
pipeline stages run on a one-sequence DAVIS-layout folder::

    <root>/<key>/davis/JPEGImages/480p/video/00000.jpg ...   frames at the working size
    <root>/<key>/{flow,superpixels,features,graphs}.zarr      the stage stores
    <root>/<key>/meta.json                                    written last: cache complete

Every stage streams frame by frame, so memory does not grow with the frame size times
the frame count. A folder without ``meta.json`` (interrupted run) is rebuilt; concurrent
runs on one video wait for each other (file lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot import __version__
from gnnannot.atomic import write_json
from gnnannot.data import davis
from gnnannot.data.davis import read_image
from gnnannot.data.video_io import VideoSource, working_size
from gnnannot.errors import ConfigError, DataError
from gnnannot.pipeline.executor import make_executor
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams
from gnnannot.progress import log, track
from gnnannot.store.base import files_digest

__all__ = ["CACHE_ENV", "SEQUENCE", "PrepParams", "PreparedVideo", "cache_root", "prepare"]

CACHE_ENV = "GNNANNOT_CACHE"
SEQUENCE = "video"
CACHE_VERSION = 1


def cache_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``explicit``, else ``$GNNANNOT_CACHE``, else ``~/.cache/gnnannot``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gnnannot"


@dataclass(frozen=True)
class PrepParams:
    """Preprocessing parameters (part of the cache key).

    work_height: process at most this many rows (aspect kept; None/0 = original size);
    flow_*: :func:`gnnannot.flow.build_flow_store` settings; superpixels:
    :class:`SuperpixelParams`; descriptor/cnn_*: :func:`gnnannot.features.build_feature_store`;
    min_flow_weight, dtype: graph/feature storage; jpeg_quality: the cached frames;
    workers: processes the stages spread the video's frame chunks over
    (:mod:`gnnannot.pipeline.chunks`; 1: serial). ``workers`` is not part of the key:
    the stores' bytes do not depend on it.
    """

    work_height: int | None = 480
    flow_method: str = "dis"
    flow_preset: str = "medium"
    flow_scale: float = 1.0
    flow_dtype: str = "quantized"
    superpixels: SuperpixelParams = field(default_factory=SuperpixelParams)
    descriptor: str = "colour"
    cnn_weights: str | None = None
    cnn_layer: int = 14
    min_flow_weight: float = 0.05
    dtype: str = "float16"
    jpeg_quality: int = 95
    workers: int = 1  # 2 measured 0.80x on a shared 2-core machine (metrics/one_video_prep.json)

    def __post_init__(self) -> None:
        if self.work_height is not None and self.work_height < 0:
            raise ConfigError(f"work_height must be >= 0, found {self.work_height}")
        if self.flow_method not in ("dis", "farneback"):
            raise ConfigError(f"flow_method must be dis or farneback, found {self.flow_method!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in 1..100, found {self.jpeg_quality}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be an int >= 1, found {self.workers!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["workers"]  # where the work runs, not what it computes: not in the key
        d["superpixels"] = self.superpixels.to_dict()
        if self.cnn_weights:
            d["cnn_weights"] = files_digest([self.cnn_weights])
        return d


@dataclass
class PreparedVideo:
    """A cached, preprocessed video (paths and sizes)."""

    dir: Path
    n_frames: int
    height: int  # original
    width: int
    work_height: int
    work_width: int
    fps: float
    frame_names: list[str]
    seconds: float = 0.0  # time spent preprocessing in this call (0 on a cache hit)
    cached: bool = True

    @property
    def davis_root(self) -> Path:
        return self.dir / "davis"

    @property
    def graphs(self) -> Path:
        return self.dir / "graphs.zarr"

    def frame_path(self, t: int) -> Path:
        return self.davis_root / "JPEGImages" / "480p" / SEQUENCE / f"{t:05d}.jpg"


def code_versions() -> dict[str, Any]:
    """Versions of the code that fills the cache (package, stage and store formats): a
    change makes a new cache entry instead of reusing one built by other code."""
    import importlib

    out: dict[str, Any] = {"gnnannot": __version__, "cache": CACHE_VERSION}
    for mod, name in (("gnnannot.pipeline.superpixels", "STAGE_VERSION"),
                      ("gnnannot.pipeline.features", "STAGE_VERSION"),
                      ("gnnannot.pipeline.graphs", "STAGE_VERSION"),
                      ("gnnannot.store.flow", "FORMAT_VERSION"),
                      ("gnnannot.store.base", "FORMAT_VERSION")):  # fmt: skip
        out[mod] = getattr(importlib.import_module(mod), name, None)
    return out


def cache_key(video: VideoSource, params: PrepParams) -> str:
    """Cache folder name: hash of the video content, the parameters and
    :func:`code_versions`."""
    payload = json.dumps([code_versions(), video.content_hash(), params.to_dict()],
                         sort_keys=True)  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _from_meta(folder: Path, meta: dict[str, Any], seconds: float, cached: bool) -> PreparedVideo:
    return PreparedVideo(
        dir=folder, n_frames=meta["n_frames"], height=meta["height"], width=meta["width"],
        work_height=meta["work_height"], work_width=meta["work_width"], fps=meta["fps"],
        frame_names=list(meta["frame_names"]), seconds=seconds, cached=cached,
    )  # fmt: skip


def _write_frames(video: VideoSource, root: Path, size: tuple[int, int], quality: int,
                  quiet: bool) -> None:  # fmt: skip
    h, w = size
    folder = davis.images_dir(root, SEQUENCE)
    folder.mkdir(parents=True, exist_ok=True)
    if video.kind == "folder" and (h, w) == (video.height, video.width) and all(
        f.suffix.lower() in (".jpg", ".jpeg") for f in video.files
    ):  # JPEG frames at the working size: copy the bytes (no second lossy encoding)
        for t, src in track(list(enumerate(video.files)), "frames", quiet=quiet):
            video.check_frame(davis.read_image(src), t, src)
            shutil.copyfile(src, folder / f"{t:05d}.jpg")
    else:
        _encode_frames(video, folder, (h, w), quality, quiet)
    for split in davis.SPLITS:
        davis.write_split(root, split, [SEQUENCE])


def _encode_frames(video: VideoSource, folder: Path, size: tuple[int, int], quality: int,
                   quiet: bool) -> None:  # fmt: skip
    h, w = size
    for t, frame in track(enumerate(video.frames()), "frames", total=video.n_frames,
                          quiet=quiet):  # fmt: skip
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        davis.write_frame(folder / f"{t:05d}.jpg", frame, quality)


def prepare(
    video: VideoSource,
    params: PrepParams | None = None,
    root: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> PreparedVideo:
    """Preprocess ``video`` into the cache (or find it there) and return where it is."""
    p = params or PrepParams()
    folder = cache_root(root) / cache_key(video, p)
    with _locked(folder):
        meta = _read_meta(folder)
        if meta is not None:
            log(f"cache hit: {folder}", quiet)
            return _from_meta(folder, meta, 0.0, True)
        log(f"preprocessing {video.path} ({video.n_frames} frames) into {folder}", quiet)
        t0 = time.perf_counter()
        for name in ("davis", "flow.zarr", "superpixels.zarr", "features.zarr", "graphs.zarr"):
            shutil.rmtree(folder / name, ignore_errors=True)
        wh, ww = working_size(video.height, video.width, p.work_height)
        droot = folder / "davis"
        _write_frames(video, droot, (wh, ww), p.jpeg_quality, quiet)
        seqs = [SEQUENCE]
        ex = make_executor("process", p.workers) if p.workers > 1 else None
        flow, sp, ft, gr = (str(folder / f"{n}.zarr") for n in
                            ("flow", "superpixels", "features", "graphs"))  # fmt: skip
        build_flow_store(str(droot), flow, method=p.flow_method, preset=p.flow_preset,
                         scale=p.flow_scale, dtype=p.flow_dtype, sequences=seqs, quiet=quiet,
                         executor=ex)  # fmt: skip
        build_superpixel_store(str(droot), sp, flow, p.superpixels, sequences=seqs, quiet=quiet,
                               executor=ex)  # fmt: skip
        build_feature_store(str(droot), ft, sp, flow, descriptor=p.descriptor,
                            cnn_weights=p.cnn_weights, cnn_layer=p.cnn_layer, dtype=p.dtype,
                            sequences=seqs, quiet=quiet, executor=ex)  # fmt: skip
        build_graph_store(gr, sp, ft, flow, seqs, min_flow_weight=p.min_flow_weight,
                          dtype=p.dtype, quiet=quiet, executor=ex)  # fmt: skip
        seconds = time.perf_counter() - t0
        meta = {
            "version": CACHE_VERSION, "source": str(video.path), "kind": video.kind,
            "n_frames": video.n_frames, "height": video.height, "width": video.width,
            "work_height": wh, "work_width": ww, "fps": video.fps,
            "frame_names": video.frame_names(), "params": p.to_dict(), "code": code_versions(),
            "preprocess_seconds": seconds,
        }  # fmt: skip
        write_json(folder / "meta.json", meta)
        log(f"preprocessing took {seconds:.1f} s", quiet)
        return _from_meta(folder, meta, seconds, False)


class CachedFrames:
    """Lazy stand-in for ``VideoData.frames``: ``shape (T, h, w, 3)`` at the working size,
    ``frames[t]`` reads one cached frame; ``np.asarray(frames)`` stacks all (avoid on long
    videos)."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, prepared: PreparedVideo) -> None:
        self.prepared = prepared
        self.shape = (prepared.n_frames, prepared.work_height, prepared.work_width, 3)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: int) -> np.ndarray:
        if not isinstance(t, int | np.integer):
            return np.asarray(self)[t]
        t = int(t)
        if t < 0:
            t += self.shape[0]
        if not 0 <= t < self.shape[0]:
            raise IndexError(f"frame {t} out of range 0..{self.shape[0] - 1}")
        return read_image(self.prepared.frame_path(t))

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(self.shape[0]):
            yield self[t]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.stack(list(self))
        return out if dtype is None else out.astype(dtype)


def check_prepared(prepared: PreparedVideo) -> None:
    """DataError when the cache folder lost files (e.g. cleaned by hand)."""
    if not prepared.graphs.is_dir() or not prepared.frame_path(0).is_file():
        raise DataError(f"{prepared.dir}: cache incomplete; delete the folder and rerun")
