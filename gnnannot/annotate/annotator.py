"""Interactive segmentation of a user's own video: :class:`Annotator`.

>>> ann = Annotator("clip.mp4")                  # or a folder of frames
>>> masks = ann.interact("scribble_001.json")    # DAVIS JSON, scribble PNG, dict, array
>>> masks = ann.interact("00040.png")            # a correction on frame 40
>>> masks[40].shape                              # (H, W) uint8 ids at the original size

The video is preprocessed once (working-resolution frames, optical flow, superpixels,
features, graph) into a per-video cache (:mod:`gnnannot.pipeline.video_cache`); a session
method (:func:`gnnannot.methods.registry.make_method`) labels the superpixel graph from
all scribbles so far. Results are :class:`Masks`: frames are rasterised from the node
labels and resized to the original size only when asked for, so a long video never holds
a ``(T, H, W)`` volume in memory.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.annotate.scribble_input import check_object_ids, load_scribble
from gnnannot.data.video_io import VideoSource, open_video, working_size
from gnnannot.errors import ConfigError, DataError
from gnnannot.pipeline.video_cache import (
    SEQUENCE,
    CachedFrames,
    PreparedVideo,
    PrepParams,
    check_prepared,
    prepare,
)

__all__ = ["DEFAULT_CHECKPOINT", "Annotator", "MethodChoice", "Masks", "choose_method",
           "resolve_method"]

DEFAULT_CHECKPOINT = None  # None: the checkpoint shipped in the package


@dataclass(frozen=True)
class MethodChoice:
    """The session method that runs, the checkpoint it loads (gnn only) and why, e.g.
    ``gnn (shipped checkpoint gnnannot/checkpoints/default.pt)`` or
    ``random_walker: --checkpoint x.pt not found``."""

    name: str
    checkpoint: Path | None
    reason: str


def choose_method(
    method: str | None, checkpoint: str | os.PathLike[str] | None = None
) -> MethodChoice:
    """Which method runs for ``--method`` / ``--checkpoint``: ``auto`` (or None) is
    ``gnn`` with ``checkpoint`` if given and found, else with the shipped checkpoint
    (:data:`gnnannot.checkpoints.SHIPPED_CHECKPOINT`), else ``random_walker``; the
    reason says which case held. An explicit ``gnn`` whose checkpoint is missing is a
    ConfigError naming the file."""
    from gnnannot.checkpoints import SHIPPED_CHECKPOINT, SHIPPED_LABEL
    from gnnannot.methods.registry import METHODS

    given = Path(checkpoint) if checkpoint is not None else None
    if given is not None and given.is_file():
        ckpt, source = given, f"--checkpoint {given}"
    elif given is None and SHIPPED_CHECKPOINT.is_file():
        ckpt, source = SHIPPED_CHECKPOINT, f"shipped checkpoint {SHIPPED_LABEL}"
    else:
        ckpt = None
        source = (f"--checkpoint {given} not found" if given is not None
                  else f"the shipped checkpoint {SHIPPED_LABEL} is missing")  # fmt: skip
    if method in (None, "", "auto"):
        if importlib.util.find_spec("gnnannot.methods.gnn") is None:
            return MethodChoice("random_walker", None,
                                "random_walker: the GNN method is not installed")  # fmt: skip
        if ckpt is None:
            return MethodChoice("random_walker", None, f"random_walker: {source}")
        return MethodChoice("gnn", ckpt, f"gnn ({source})")
    if method == "oracle":
        raise ConfigError("method 'oracle' needs ground truth; it cannot segment a new video")
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; expected one of {METHODS} or 'auto'")
    if method == "gnn":
        if ckpt is None:
            raise ConfigError(f"--method gnn: {source}")
        return MethodChoice("gnn", ckpt, f"gnn (--method gnn, {source})")
    return MethodChoice(method, None, f"{method} (--method {method})")


def resolve_method(method: str | None, checkpoint: str | os.PathLike[str] | None) -> str:
    """The name of :func:`choose_method`'s choice."""
    return choose_method(method, checkpoint).name


class Masks:
    """Object masks of every frame, ``(T, H, W) uint8`` ids (0 = background) at the video's
    original size, produced one frame at a time.

    ``masks[t]`` -> ``(H, W) uint8``; iterate for all frames; ``masks.work_frame(t)`` is
    the frame at the working resolution; ``np.asarray(masks)`` / :meth:`to_array` builds
    the whole volume (only for short videos).
    """

    def __init__(
        self,
        work_frame: Callable[[int], np.ndarray],
        n_frames: int,
        size: tuple[int, int],
        n_objects: int,
    ) -> None:
        self._work_frame = work_frame
        self.n_frames = n_frames
        self.height, self.width = size
        self.n_objects = n_objects

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_frames, self.height, self.width)

    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.n_frames

    def work_frame(self, t: int) -> np.ndarray:
        """``(h, w) uint8`` mask of frame ``t`` at the working resolution."""
        return self._work_frame(self._index(t))

    def _index(self, t: int) -> int:
        t = int(t)
        if t < 0:
            t += self.n_frames
        if not 0 <= t < self.n_frames:
            raise IndexError(f"frame {t} out of range 0..{self.n_frames - 1}")
        return t

    def __getitem__(self, t: int) -> np.ndarray:
        m = self.work_frame(t)
        if m.shape != (self.height, self.width):
            m = cv2.resize(m, (self.width, self.height), interpolation=cv2.INTER_NEAREST)
        return m

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(self.n_frames):
            yield self[t]

    def to_array(self) -> np.ndarray:
        """``(T, H, W) uint8`` (holds all frames in memory)."""
        out = np.empty(self.shape, dtype=np.uint8)
        for t in range(self.n_frames):
            out[t] = self[t]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.to_array()
        return out if dtype is None else out.astype(dtype)


def _is_plain_graph_method(method: Any) -> bool:
    """A GraphMethod whose ``interact`` is the base one (seeds + predict_nodes), so the
    annotator may run those steps itself and rasterise lazily."""
    from gnnannot.methods.base import GraphMethod

    return isinstance(method, GraphMethod) and type(method).interact is GraphMethod.interact


class Annotator:
    """Interactive segmentation session on one video (file or folder of frames).

    Args:
        video: path of a video file (anything OpenCV decodes) or a folder of images, or a
            :class:`VideoSource`.
        method: session method name (``gnn``, ``random_walker``, ``nearest_seed``) or
            None/"auto" (see :func:`choose_method`; :attr:`method_reason` says which ran
            and why).
        checkpoint: GNN checkpoint (default None: the one shipped in the package).
        options: keyword options of the method (e.g. ``{"beta": 4.0}``).
        n_objects: number of objects; default: the largest id of the first interaction
            (whose ids must then be 1..K without gaps).
        params: preprocessing parameters (:class:`PrepParams`); ``work_height`` is a
            shortcut for ``PrepParams(work_height=...)``.
        cache_dir: cache root (default ``$GNNANNOT_CACHE`` or ``~/.cache/gnnannot``).
        device: torch device for the GNN.
        refine: pixel-level refinement of the masks (:mod:`gnnannot.methods.refine`): True/None
            (on, the defaults), False (off), a dict of :class:`gnnannot.methods.refine.RefineParams`
            fields or one.
        quiet: no progress output.
    """

    def __init__(
        self,
        video: str | os.PathLike[str] | VideoSource,
        *,
        method: str | None = None,
        checkpoint: str | os.PathLike[str] | None = DEFAULT_CHECKPOINT,
        options: dict[str, Any] | None = None,
        n_objects: int | None = None,
        params: PrepParams | None = None,
        work_height: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        fps: float | None = None,
        device: str = "cpu",
        refine: Any = None,
        quiet: bool = True,
    ) -> None:
        from gnnannot.methods.refine import refine_params

        self.refine = refine_params(refine)
        self._refiner: Any = None
        self.video = video if isinstance(video, VideoSource) else open_video(video, fps)
        if params is not None and work_height is not None:
            raise ConfigError("give either params or work_height, not both")
        self.params = params or (PrepParams(work_height=work_height) if work_height is not None
                                 else PrepParams())  # fmt: skip
        choice = choose_method(method, checkpoint)
        self.method_name = choice.name
        self.method_reason = choice.reason
        self.checkpoint = choice.checkpoint
        self.options = dict(options or {})
        if n_objects is not None and n_objects < 1:
            raise ConfigError(f"n_objects must be >= 1, found {n_objects}")
        self.n_objects = n_objects
        self.cache_dir = cache_dir
        self.device = device
        self.quiet = quiet
        self.prepared: PreparedVideo | None = None
        self.method: Any = None
        self.history: list[tuple[str, dict[str, Any]]] = []
        self.timings: list[float] = []
        self.masks: Masks | None = None  # result of the last interaction
        self._lazy = False
        # per interaction, the state before it: (method snapshot, refiner, masks)
        self._before: list[tuple[Any, Any, Masks | None]] = []

    # ------------------------------------------------------------------ sizes
    @property
    def n_frames(self) -> int:
        return self.video.n_frames

    @property
    def frame_size(self) -> tuple[int, int]:
        """Original ``(H, W)``."""
        return self.video.height, self.video.width

    @property
    def work_size(self) -> tuple[int, int]:
        """``(h, w)`` the video is processed at."""
        return working_size(self.video.height, self.video.width, self.params.work_height)

    # ------------------------------------------------------------------ steps
    def prepare(self) -> PreparedVideo:
        """Preprocess the video into the cache (no-op when cached); returns the entry."""
        if self.prepared is None:
            self.prepared = prepare(self.video, self.params, self.cache_dir, self.quiet)
            check_prepared(self.prepared)
        return self.prepared

    def load_scribble(self, scribble: Any, frame: int | None = None) -> tuple[dict[str, Any], str]:
        """Validated DAVIS scribble dict (and its name) from any accepted input (see
        :func:`gnnannot.annotate.scribble_input.load_scribble`)."""
        return load_scribble(
            scribble, n_frames=self.n_frames, frame_size=self.frame_size,
            work_size=self.work_size, frame=frame, frame_names=self.video.frame_names(),
        )  # fmt: skip

    def _start(self, n_objects: int) -> None:
        from gnnannot.ivos.session import VideoData
        from gnnannot.methods.registry import make_method
        from gnnannot.store.graphs import open_graph

        prep = self.prepare()
        method = make_method(
            self.method_name, graph_store=prep.graphs, dataset_root=prep.davis_root,
            checkpoint=self.checkpoint, options=self.options, device=self.device,
        )  # fmt: skip
        self._lazy = _is_plain_graph_method(method)
        if self._lazy:

            def loader(seq: str) -> Any:
                graph = open_graph(prep.graphs, seq)
                # GraphMethod.start keeps labels_all() (T*h*w int32) only for its own
                # interact(), which the annotator does not call: skip building it.
                graph.labels_all = lambda: np.zeros((0, 0, 0), np.int32)  # type: ignore[method-assign]
                return graph

            method.graph_loader = loader
        method.start(VideoData(SEQUENCE, CachedFrames(prep), n_objects))  # type: ignore[arg-type]
        if self.refine.enabled:
            from gnnannot.methods.refine import MaskRefiner

            self._refiner = MaskRefiner(CachedFrames(prep), prep.work_height, prep.work_width,
                                        self.refine)  # fmt: skip
        self.method = method
        self.n_objects = n_objects

    def interact(self, scribble: Any, frame: int | None = None) -> Masks:
        """Add one interaction and return the masks of all frames.

        ``scribble``: a DAVIS scribble dict or JSON path, a scribble image path (see
        :mod:`gnnannot.annotate.scribble_input` for which frame it marks; ``frame``
        overrides), or an ``(H, W)`` label array at the original size with ``frame``.
        Raises DataError on a bad scribble (nothing is changed then).
        """
        scr, name = self.load_scribble(scribble, frame)
        k = check_object_ids([(name, scr)], self.n_objects)
        if self.method is None:
            self._start(k)
        t0 = time.perf_counter()
        before = self._state_before()
        masks = self._run(scr)
        self.timings.append(time.perf_counter() - t0)
        self.history.append((name, scr))
        self._before.append(before)
        self.masks = masks
        return masks

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` / :meth:`reset` can return to an earlier state without
        replaying interactions (the method keeps snapshots: every graph method does)."""
        return len(self._before) == len(self.history) and all(
            b[0] is not None for b in self._before)

    def undo(self) -> Masks | None:
        """Drop the last interaction: the method, refiner and masks return to the state
        they had before it (stored, not replayed: it costs less than one interaction).
        Returns the masks now current (None when no interaction is left)."""
        if not self.history:
            raise DataError("nothing to undo: no interaction yet")
        self._back_to(len(self.history) - 1)
        return self.masks

    def reset(self) -> None:
        """Drop every interaction (the method stays started: the next interaction pays no
        set-up)."""
        if self.history:
            self._back_to(0)

    def _back_to(self, n: int) -> None:
        if not self.can_undo:
            raise DataError(f"method {self.method_name} keeps no per-interaction state: "
                            "replay the interactions into a new Annotator instead")
        snap, refiner, masks = self._before[n]
        self.method.restore(snap)
        if refiner is not None:
            self._refiner = refiner.snapshot()
        del self._before[n:], self.history[n:], self.timings[n:]
        self.masks = masks

    def _state_before(self) -> tuple[Any, Any, Masks | None]:
        snap = getattr(self.method, "snapshot", None)
        refiner = None if self._refiner is None else self._refiner.snapshot()
        return (snap() if callable(snap) else None), refiner, self.masks

    def export(
        self,
        out: str | os.PathLike[str],
        masks: Masks | None = None,
        *,
        formats: Iterable[str] | None = None,
        overlay: bool = True,
        rle_json: bool = True,
        info: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write ``masks`` (default: the last interaction's) into the folder ``out``,
        atomically, in the export ``formats`` (default: every registered default one, e.g.
        ``masks/<frame>.png`` palette PNGs, ``rle/<frame>.json`` COCO RLE, ``overlay.mp4``;
        ``overlay`` / ``rle_json`` False leave those out) and ``segment.json`` (see
        :mod:`gnnannot.annotate.exports`; an existing ``out`` that is not a previous export
        needs ``overwrite``, the video and the cache are never replaced)."""
        from gnnannot.annotate.exports import export_masks

        masks = masks if masks is not None else self.masks
        if masks is None or self.n_objects is None:
            raise DataError("nothing to export: call interact() first")
        prep = self.prepare()
        summary = {
            "video": str(self.video.path), "method": self.method_name,
            "method_reason": self.method_reason,
            "frame_size": list(self.frame_size), "work_size": list(self.work_size),
            "refine": asdict(self.refine),
            "cache": str(prep.dir), "preprocess_seconds": prep.seconds, "cached": prep.cached,
            "interactions": [{"scribble": name, "seconds": sec}
                             for (name, _), sec in zip(self.history, self.timings, strict=True)],
            **(info or {}),
        }  # fmt: skip
        return export_masks(out, masks, self.video.frames(), prep.frame_names, self.n_objects,
                            self.video.fps, formats=formats, overlay=overlay,
                            rle_json=rle_json, info=summary, quiet=self.quiet,
                            overwrite=overwrite, inputs=[self.video.path, prep.dir])  # fmt: skip

    def _run(self, scr: dict[str, Any]) -> Masks:
        prep = self.prepared
        assert prep is not None and self.n_objects is not None
        m = self.method
        if self._lazy:
            m.seeds.add(scr)
            labels = np.asarray(m.predict_nodes()).astype(np.uint8)
            graph = m.graph
            if getattr(m, "paint_scribbles", False):  # scribbled pixels keep their label
                paint = m.seeds.painter()
                frame_fn: Callable[[int], np.ndarray] = (  # noqa: E731
                    lambda t: paint(t, labels[graph.labels(t)]))
            else:
                frame_fn = lambda t: labels[graph.labels(t)]  # noqa: E731
        else:  # a method with its own interact(): it returns the whole volume
            vol = np.asarray(m.interact(scr))
            expected = (prep.n_frames, prep.work_height, prep.work_width)
            if vol.shape != expected:
                raise DataError(
                    f"method {self.method_name}: masks {vol.shape}, expected {expected}"
                )
            vol = vol.astype(np.uint8, copy=False)
            frame_fn = lambda t: vol[t]  # noqa: E731
        if self._refiner is not None:  # pixel refinement, frame by frame when asked for
            self._refiner.add(scr)
            refiner, raw_fn = self._refiner.snapshot(), frame_fn
            frame_fn = lambda t: refiner(t, raw_fn(t))  # noqa: E731
        return Masks(frame_fn, prep.n_frames, self.frame_size, self.n_objects)
