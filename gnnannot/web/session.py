"""The state behind the browser annotation page: one video, its objects, the interactions
so far and the masks of every frame, on top of :class:`gnnannot.annotate.Annotator`.

Every change (interaction, undo, reset, objects) is validated first, computed, saved
atomically to the session file (:mod:`gnnannot.web.session_store`) and only then made
visible, so a bad request or a failure leaves both the saved session and the page's state
as they were. Undo and reset return the annotator to the state it stored before the
interaction (:meth:`gnnannot.annotate.Annotator.undo`: no replay); object removal and
resuming a saved session replay the remaining interactions, in order, into a fresh
annotator: the masks are the ones the same interactions give in ``gnnannot segment``.

Frames are served one at a time at the working resolution from the preprocessing cache
(the page never receives the whole video); mask overlays are drawn with
:func:`gnnannot.annotate.exports.overlay_frame`, the overlay video's drawing.
"""

from __future__ import annotations

import io
import os
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.annotate.annotator import DEFAULT_CHECKPOINT, Annotator, Masks
from gnnannot.annotate.exports import overlay_frame
from gnnannot.annotate.mask_edits import Constraints, keyframe_strokes
from gnnannot.data.video_io import VideoSource, open_video
from gnnannot.pipeline.video_cache import PrepParams
from gnnannot.store.palette import PALETTE
from gnnannot.web.session_store import (
    SESSION_FILE,
    Interaction,
    RequestError,
    SessionState,
    SessionStore,
    default_object,
    now_iso,
    to_davis_scribble,
    validate_object_meta,
    validate_strokes,
)

__all__ = ["DOWNLOADS", "MAX_OBJECTS", "WebSession", "default_out"]

MAX_OBJECTS = 254  # palette ids 1..254 (255 is the background value of scribble images)
DOWNLOADS = ("masks.zip", "rle.zip", "overlay.mp4")
JPEG_QUALITY = 90


def default_out(source: VideoSource) -> Path:
    """Default export folder: ``./<video name>_gnnannot`` in the working directory."""
    return Path.cwd() / f"{source.path.stem or 'video'}_gnnannot"


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])  # fmt: skip
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class WebSession:
    """One video's annotation session for the web app (thread-safe).

    Args:
        video: video file, frame folder or :class:`VideoSource`.
        method, checkpoint, options, device: the session method (as for :class:`Annotator`).
        refine: pixel-level refinement of the masks (as for :class:`Annotator`).
        params: preprocessing parameters (part of the cache key, so of the session file).
        cache_dir: preprocessing cache root (default ``$GNNANNOT_CACHE``/``~/.cache/gnnannot``).
        out: export folder (default :func:`default_out`).
        fps: frame rate of a frame folder's overlay video.
        quiet: no progress output while preprocessing.
        warm_up: import the method's modules (torch, ...) now, so that the first
            interaction's update is as fast as the later ones.
    """

    def __init__(
        self,
        video: str | os.PathLike[str] | VideoSource,
        *,
        method: str | None = "auto",
        checkpoint: str | os.PathLike[str] | None = DEFAULT_CHECKPOINT,
        options: dict[str, Any] | None = None,
        params: PrepParams | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        out: str | os.PathLike[str] | None = None,
        fps: float | None = None,
        device: str = "cpu",
        quiet: bool = True,
        warm_up: bool = True,
        overwrite: bool = False,
        refine: Any = None,
    ) -> None:
        from gnnannot.annotate.exports import check_out

        self.overwrite = overwrite
        if out is not None:  # refuse an unsafe --out before preprocessing
            check_out(out, overwrite=overwrite,
                      inputs=[video.path if isinstance(video, VideoSource) else video])
        self.source = video if isinstance(video, VideoSource) else open_video(video, fps)
        self._ann_kwargs: dict[str, Any] = dict(
            checkpoint=checkpoint, options=options, params=params, cache_dir=cache_dir,
            device=device, quiet=quiet, refine=refine,
        )  # fmt: skip
        first = Annotator(self.source, method=method, **self._ann_kwargs)
        self.method_name = first.method_name
        self.method_reason = first.method_reason
        self._ann_kwargs["checkpoint"] = first.checkpoint  # the resolved file (gnn only)
        self.prepared = first.prepare()
        self.n_frames = self.prepared.n_frames
        self.out = Path(out) if out is not None else default_out(self.source)
        check_out(self.out, overwrite=overwrite, inputs=[self.source.path, self.prepared.dir])
        self.store = SessionStore((self.prepared.dir / SESSION_FILE).absolute(), self.n_frames)
        self._lock = threading.RLock()  # serialises changes
        self._render_lock = threading.Lock()  # serialises reads of the superpixel stores
        self.version = 0  # bumped at every visible change (the page reloads images)
        self.last_seconds: float | None = None
        self.last_export: dict[str, Any] | None = None
        if warm_up:
            self._warm_up()
        state, self.warning = self.store.load()
        self.resumed = bool(state.interactions)
        t0 = time.perf_counter()
        self.annotator, self.masks = self._replay(state)
        self.resume_seconds = time.perf_counter() - t0
        self.state = state
        self._stale = False  # annotator built for fewer objects than the session has

    # ------------------------------------------------------------------ internals
    def _warm_up(self) -> None:
        import importlib

        mods = ["gnnannot.ivos.session", "gnnannot.methods.registry", "gnnannot.methods.baselines"]
        if self.method_name == "gnn":
            mods.append("gnnannot.methods.gnn")
        for m in mods:
            importlib.import_module(m)

    def _new_annotator(self, n_objects: int) -> Annotator:
        ann = Annotator(self.source, method=self.method_name, n_objects=n_objects,
                        **self._ann_kwargs)  # fmt: skip
        ann.prepared = self.prepared  # already prepared: skip re-hashing the video
        return ann

    @property
    def work_size(self) -> tuple[int, int]:
        return self.prepared.work_height, self.prepared.work_width

    def _scribble(
        self, strokes: list[dict[str, Any]], shown: Masks | None = None
    ) -> dict[str, Any]:
        """DAVIS scribble of one interaction. A frame it edits with the mask brush or
        eraser is a key frame: ``shown`` (the masks before it) with the edits seeds the
        whole frame (:func:`gnnannot.annotate.mask_edits.keyframe_strokes`, in place of
        the edit strokes), the interaction's scribbles on it after."""
        plain = [s for s in strokes if s.get("kind", "scribble") == "scribble"]
        scr = to_davis_scribble(plain, self.n_frames, self.work_size)

        def shown_frame(t: int) -> np.ndarray:
            assert shown is not None
            with self._render_lock:  # the page may be reading frames meanwhile
                return shown.work_frame(t)

        keys_of = keyframe_strokes(strokes, None if shown is None else shown_frame,
                                   self.work_size)  # fmt: skip
        for t, keys in keys_of.items():
            scr["scribbles"][t] = keys + scr["scribbles"][t]
        return scr

    def _constrained(self, masks: Masks | None, state: SessionState) -> Masks | None:
        """``masks`` with the pixels of every mask-brush and eraser stroke of ``state``
        forced (:class:`gnnannot.annotate.mask_edits.Constraints`)."""
        if masks is None:
            return None
        cons = Constraints((s for it in state.interactions for s in it.strokes), self.work_size)
        if not cons:
            return masks
        return Masks(cons.wrap(masks.work_frame), masks.n_frames, (masks.height, masks.width),
                     masks.n_objects)  # fmt: skip

    def _replay(self, state: SessionState) -> tuple[Annotator, Masks | None]:
        """A fresh annotator fed ``state``'s interactions in order, and its last masks
        (with the mask edits applied)."""
        ann = self._new_annotator(state.n_objects)
        masks = None
        for i, it in enumerate(state.interactions):
            masks = ann.interact(self._scribble(it.strokes, self._shown_before(masks, state, i)))
        return ann, self._constrained(masks, state)

    def _shown_before(self, masks: Masks | None, state: SessionState, i: int) -> Masks | None:
        """The masks the page showed before interaction ``i`` of ``state`` (``masks``: the
        method's after interaction ``i - 1``), with the mask edits of interactions < i."""
        if masks is None:
            return None
        return self._constrained(masks, SessionState(state.n_objects, state.interactions[:i],
                                                     state.objects))  # fmt: skip

    def _commit(self, state: SessionState, ann: Annotator, masks: Masks | None) -> None:
        """Save ``state`` and make it current; on a failed save, keep the old state."""
        try:
            self.store.save(state)
        except Exception:
            if ann is self.annotator:  # it already holds the new interaction: rebuild
                self.annotator, self.masks = self._replay(self.state)
            raise
        self.state, self.annotator, self.masks = state, ann, masks
        self._stale = False
        self.version += 1

    def _check_frame(self, t: Any, field: str = "frame") -> int:
        try:
            i = int(t)
        except (TypeError, ValueError):
            i = -1
        if str(t).strip() != str(i) or not 0 <= i < self.n_frames:
            raise RequestError(
                f"frame index out of range: expected an integer in 0..{self.n_frames - 1}, "
                f"found {t!r}", field, 404,
            )  # fmt: skip
        return i

    # ------------------------------------------------------------------ reads
    def info(self, seconds: float | None = None) -> dict[str, Any]:
        """JSON-able description of the session for the page."""
        p = self.prepared
        k = self.state.n_objects
        return {
            "video": self.source.path.name, "n_frames": self.n_frames,
            "frame_size": [p.height, p.width], "work_size": [p.work_height, p.work_width],
            "fps": p.fps, "method": self.method_name, "method_reason": self.method_reason,
            "n_objects": k,
            "palette": self.palette()[: k + 1].tolist(), "version": self.version,
            "objects": [{"id": i + 1, **o} for i, o in enumerate(self.state.objects)],
            "has_masks": self.masks is not None, "last_seconds": self.last_seconds,
            "interactions": [
                {"frames": it.frames, "n_strokes": len(it.strokes), "seconds": it.seconds,
                 "created": it.created} for it in self.state.interactions
            ],
            "session_file": str(self.store.path), "out": str(self.out),
            "resumed": self.resumed, "warning": self.warning, "seconds": seconds,
        }  # fmt: skip

    def palette(self) -> np.ndarray:
        """``(256, 3) uint8``: the DAVIS palette with the objects' own colours."""
        pal = PALETTE.copy()
        for k, o in enumerate(self.state.objects, start=1):
            pal[k] = o["colour"]
        return pal

    def strokes_on(self, t: Any) -> list[dict[str, Any]]:
        """Submitted strokes on frame ``t``: ``[{"object_id", "path", "kind", "radius",
        "interaction"}]``."""
        i = self._check_frame(t)
        return [
            {"object_id": s["object_id"], "path": s["path"], "kind": s.get("kind", "scribble"),
             "radius": s.get("radius", 0), "interaction": n}
            for n, it in enumerate(self.state.interactions)
            for s in it.strokes
            if s["frame"] == i
        ]  # fmt: skip

    def mask_png(self, t: Any) -> bytes:
        """Palette PNG (value = object id) of frame ``t``'s mask at the working resolution;
        RequestError 409 before the first interaction."""
        i = self._check_frame(t)
        masks = self.masks
        if masks is None:
            raise RequestError("no masks yet: submit an interaction first", "masks", 409)
        with self._render_lock:
            mask = masks.work_frame(i)
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(mask, np.uint8), mode="P")
        img.putpalette(self.palette().reshape(-1).tolist())
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    def frame_jpeg(self, t: Any, overlay: bool = True, height: int | None = None,
                   hidden: tuple[int, ...] = ()) -> bytes:  # fmt: skip
        """JPEG of frame ``t`` at the working resolution (or ``height`` rows, aspect kept),
        with the current masks blended in (in the objects' colours, ``hidden`` objects
        left out) when ``overlay`` and masks exist."""
        i = self._check_frame(t)
        masks = self.masks  # a snapshot: later interactions make new Masks objects
        path = self.prepared.frame_path(i)
        if (not overlay or masks is None) and height is None:
            return path.read_bytes()
        from gnnannot.data.davis import read_image

        rgb = read_image(path)
        if overlay and masks is not None:
            with self._render_lock:
                mask = masks.work_frame(i)
            rgb = overlay_frame(rgb, mask, palette=self.palette(), hidden=hidden)
        if height is not None and height < rgb.shape[0]:
            w = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
            rgb = cv2.resize(rgb, (w, height), interpolation=cv2.INTER_AREA)
        return _jpeg(rgb)

    # ------------------------------------------------------------------ changes
    def interact(self, strokes: Any) -> float:
        """Add one interaction (strokes as in :func:`validate_strokes`); returns the
        seconds the masks of all frames took. RequestError for a bad request."""
        with self._lock:
            checked = validate_strokes(strokes, self.n_frames, self.state.n_objects)
            if self._stale:  # objects were added: a method for the new object count
                self.annotator, self.masks = self._replay(self.state)
                self._stale = False
            scr = self._scribble(checked, self.masks)
            ann = self.annotator
            ann.load_scribble(scr)  # the annotator's own checks, before any change
            try:
                masks = ann.interact(scr)
            except Exception:  # the method may hold half of this interaction: rebuild
                self.annotator, self.masks = self._replay(self.state)
                raise
            seconds = ann.timings[-1]
            state = self.state.copy()
            state.interactions.append(Interaction(checked, seconds, now_iso()))
            self._commit(state, ann, self._constrained(masks, state))
            self.last_seconds = seconds
            return seconds

    def _replace(self, state: SessionState) -> float:
        """Replay ``state`` into a fresh annotator and make it current; seconds taken."""
        t0 = time.perf_counter()
        ann, masks = self._replay(state)
        seconds = time.perf_counter() - t0
        self._commit(state, ann, masks)
        self.last_seconds = seconds
        return seconds

    def _step_back(self, state: SessionState) -> float | None:
        """Return the current annotator to ``state`` (a prefix of the current interactions)
        from its stored per-interaction state; seconds taken, or None where it cannot
        (objects added since, or a method without snapshots): then replay."""
        ann = self.annotator
        n = len(state.interactions)
        if self._stale or not ann.can_undo or len(ann.history) != len(self.state.interactions):
            return None
        t0 = time.perf_counter()
        if n == 0:
            ann.reset()
        else:
            while len(ann.history) > n:
                ann.undo()
        masks = self._constrained(ann.masks, state)
        seconds = time.perf_counter() - t0
        self._commit(state, ann, masks)
        self.last_seconds = seconds
        return seconds

    def undo(self) -> float:
        """Drop the last interaction (the annotator returns to its stored state before it;
        no replay); seconds taken."""
        with self._lock:
            if not self.state.interactions:
                raise RequestError("nothing to undo: no interaction yet", "interactions", 409)
            state = self.state.copy()
            state.interactions.pop()
            seconds = self._step_back(state)
            return self._replace(state) if seconds is None else seconds

    def reset(self) -> float:
        """Drop every interaction (the objects stay)."""
        with self._lock:
            state = SessionState(self.state.n_objects, [], self.state.objects)
            seconds = self._step_back(state)
            return self._replace(state) if seconds is None else seconds

    def add_object(self) -> int:
        """Add object ``K + 1`` and return its id (the masks do not change until it gets a
        stroke)."""
        with self._lock:
            k = self.state.n_objects
            if k >= MAX_OBJECTS:
                raise RequestError(f"at most {MAX_OBJECTS} objects, found {k}", "objects", 409)
            state = self.state.copy()
            state.n_objects = k + 1
            state.objects.append(default_object(k + 1))
            self.store.save(state)
            self.state = state
            self._stale = True
            self.version += 1
            return k + 1

    def remove_object(self, obj: Any) -> float:
        """Remove object ``obj`` with all its strokes; higher ids move down by one;
        interactions left without strokes are dropped. Returns the seconds taken."""
        with self._lock:
            k = self.state.n_objects
            try:
                oid = int(obj)
            except (TypeError, ValueError):
                oid = -1
            if str(obj).strip() != str(oid) or not 1 <= oid <= k:
                raise RequestError(f"unknown object {obj!r}: the session's objects are 1..{k}",
                                   "object", 404)  # fmt: skip
            if k == 1:
                raise RequestError("cannot remove the only object", "object", 409)
            kept = []
            for it in self.state.interactions:
                strokes = [
                    {**s, "object_id": s["object_id"] - (s["object_id"] > oid)}
                    for s in it.strokes
                    if s["object_id"] != oid
                ]
                if strokes:
                    kept.append(Interaction(strokes, it.seconds, it.created))
            objects = [o for i, o in enumerate(self.state.objects, start=1) if i != oid]
            return self._replace(SessionState(k - 1, kept, objects))

    def _object_id(self, obj: Any) -> int:
        k = self.state.n_objects
        try:
            oid = int(obj)
        except (TypeError, ValueError):
            oid = -1
        if str(obj).strip() != str(oid) or not 1 <= oid <= k:
            raise RequestError(f"unknown object {obj!r}: the session's objects are 1..{k}",
                               "object", 404)  # fmt: skip
        return oid

    def update_object(self, obj: Any, meta: Any) -> None:
        """Rename / recolour object ``obj`` (``{"name"?, "colour"?: [r, g, b]}``); saved
        with the session. The masks do not change."""
        with self._lock:
            oid = self._object_id(obj)
            checked = validate_object_meta(meta)
            state = self.state.copy()
            state.objects[oid - 1] = {**state.objects[oid - 1], **checked}
            self.store.save(state)
            self.state = state
            self.version += 1

    # ------------------------------------------------------------------ export
    def export(self, overlay: bool = True, rle_json: bool = True) -> dict[str, Any]:
        """Write the current masks with the ``gnnannot segment`` writers into :attr:`out`
        (replaced atomically; see :func:`gnnannot.annotate.exports.check_out`); returns
        what was written and the download names."""
        with self._lock:
            if self.masks is None:
                raise RequestError("nothing to export: submit an interaction first",
                                   "masks", 409)  # fmt: skip
            if self._stale:
                self.annotator, self.masks = self._replay(self.state)
                self._stale = False
            t0 = time.perf_counter()
            info = {"session": str(self.store.path), "interface": "web"}
            self.annotator.export(self.out, self.masks, overlay=overlay, rle_json=rle_json,
                                  info=info, overwrite=self.overwrite)  # fmt: skip
            seconds = time.perf_counter() - t0
            names = ["masks.zip"] + (["rle.zip"] if rle_json else [])
            names += ["overlay.mp4"] if overlay else []
            self.last_export = {"out": str(self.out), "seconds": seconds, "version": self.version,
                                "downloads": names}  # fmt: skip
            return dict(self.last_export)

    def download(self, name: str) -> tuple[bytes | Path, str]:
        """``(content or file path, media type)`` of one part of the last export."""
        if name not in DOWNLOADS:
            raise RequestError(f"unknown download {name!r}: expected one of {list(DOWNLOADS)}",
                               "name", 404)  # fmt: skip
        with self._lock:
            last = self.last_export
            if last is None:
                raise RequestError("no export yet: press Export first", "name", 404)
            if name not in last["downloads"]:
                raise RequestError(f"{name} is not in the last export (tick it and export again)",
                                   "name", 404)  # fmt: skip
            if name == "overlay.mp4":
                return self.out / "overlay.mp4", "video/mp4"
            folder = self.out / name.removesuffix(".zip")
            buf = io.BytesIO()
            method = zipfile.ZIP_STORED if name == "masks.zip" else zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(buf, "w", method) as zf:
                for f in sorted(folder.iterdir()):
                    zf.write(f, f"{folder.name}/{f.name}")
            return buf.getvalue(), "application/zip"
