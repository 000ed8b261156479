"""Write a segmentation in standard formats, streaming one frame at a time.

The formats are a registry of writers (:func:`register_format`): ``gnnannot segment``
(``--format``), the annotator and the web app's export write the registered ones, so a
new format is one :class:`ExportFormat` and one :func:`register_format` call (here, or in
a plug-in imported before the export). Built in, in this order (``segment.json`` is always
written)::

    masks/<frame>.png     masks: DAVIS palette PNG per frame: pixel value = object id,
                          0 = background
    rle/<frame>.json      rle: COCO-style RLE per frame: one entry per object 1..K
    overlay.mp4           overlay: frames with the masks blended in colour (MPEG-4 part 2,
                          ``mp4v``; odd sizes padded by one pixel)
    segment.json          what was run: video, sizes, method, interactions, timings, and
                          ``outputs``: {format: its entry, or null when not written}

The output folder is written to a temporary sibling and renamed into place only when
everything succeeded (:func:`gnnannot.atomic.atomic_dir`).

An existing ``out`` is replaced only when it is a previous export (its ``segment.json``
manifest and nothing but the files above) or ``overwrite`` is given; a file is never
turned into a folder, and an ``out`` that is (or holds) an input is always refused
(:func:`check_out`).

``<frame>`` is the frame file's stem for a frame folder, the 5-digit index for a video.
RLE file: ``{"frame": t, "file_name": ..., "height": H, "width": W, "objects":
[{"object_id": k, "segmentation": {"size": [H, W], "counts": str}, "area": int, "bbox":
[x, y, w, h]}, ...]}`` - ``segmentation`` decodes with ``pycocotools.mask.decode`` (after
``counts.encode()``) or :func:`gnnannot.annotate.rle.decode`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from gnnannot.annotate import rle
from gnnannot.atomic import atomic_dir
from gnnannot.errors import ConfigError, DataError
from gnnannot.progress import track
from gnnannot.store.palette import PALETTE, write_palette_png

__all__ = ["ExportContext", "ExportFormat", "FrameWriter", "OverlayWriter", "check_out",
           "default_formats", "export_formats", "export_masks", "format_help",
           "is_previous_export", "overlay_frame", "register_format", "resolve_formats",
           "rle_record"]

MANIFEST = "segment.json"
EXPORT_FORMAT = "gnnannot.export/1"


@dataclass(frozen=True)
class ExportContext:
    """What a format's writer is opened with: the (temporary) export ``folder`` and the
    video's ``n_frames``, ``n_objects``, ``fps``."""

    folder: Path
    n_frames: int
    n_objects: int
    fps: float


class FrameWriter(Protocol):
    """Writes one format, frame after frame: ``write(t, name, mask, frame)`` with the
    ``(H, W) uint8`` mask of frame ``t`` (file stem ``name``) and its RGB frame (None for
    formats that do not need frames); ``close()`` once at the end (also after an error)."""

    def write(self, t: int, name: str, mask: np.ndarray, frame: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ExportFormat:
    """A registered export format: ``open(context)`` gives its :class:`FrameWriter`;
    ``entry``: the one folder (``"name/"``) or file it writes in the export folder;
    ``needs_frames``: its writer gets the video frames; ``default``: written unless the
    caller names the formats."""

    name: str
    help: str
    open: Callable[[ExportContext], FrameWriter]
    entry: str
    needs_frames: bool = False
    default: bool = True


_FORMATS: dict[str, ExportFormat] = {}


def register_format(fmt: ExportFormat) -> None:
    """Make ``fmt`` available by its name (replacing a format of the same name)."""
    if not fmt.name or "/" in fmt.entry.rstrip("/") or fmt.entry.rstrip("/") == MANIFEST:
        raise ConfigError(f"export format {fmt.name!r}: entry {fmt.entry!r} must be one "
                          f"file or folder name other than {MANIFEST}")
    _FORMATS[fmt.name] = fmt


def export_formats() -> list[str]:
    """The registered format names, in registration order."""
    return list(_FORMATS)


def default_formats() -> list[str]:
    """The formats written when none are named."""
    return [n for n, f in _FORMATS.items() if f.default]


def format_help() -> str:
    """One line per format: ``name: help``."""
    return "; ".join(f"{f.name}: {f.help}" for f in _FORMATS.values())


def resolve_formats(
    formats: Iterable[str] | None = None, *, without: Iterable[str] = ()
) -> list[str]:
    """The formats to write, in registration order: ``formats`` (default: the default
    ones) less ``without``; ConfigError naming an unknown format or an empty choice."""
    chosen = list(default_formats() if formats is None else formats)
    drop = list(without)
    for n in chosen + drop:
        if n not in _FORMATS:
            raise ConfigError(f"unknown export format {n!r}: expected one of {export_formats()}")
    out = [n for n in _FORMATS if n in chosen and n not in drop]
    if not out:
        raise ConfigError(f"no export format chosen: name one of {export_formats()}")
    return out


def _entry_names() -> set[str]:
    return {f.entry.rstrip("/") for f in _FORMATS.values()} | {MANIFEST}


def is_previous_export(path: str | os.PathLike[str]) -> bool:
    """Whether the folder ``path`` holds a gnnannot export and nothing else: a readable
    ``segment.json`` manifest (with ``format`` or, from older versions, ``outputs``) and
    only the entries an export writes."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        names = {c.name for c in path.iterdir()}
    except (OSError, ValueError):
        return False
    return (
        isinstance(manifest, dict)
        and (manifest.get("format") == EXPORT_FORMAT or "outputs" in manifest)
        and names <= _entry_names()
    )


def check_out(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """ConfigError unless writing the export folder ``out`` is safe: ``out`` is absent, an
    empty folder, a previous export, or (with ``overwrite``) any folder; never a file, and
    never one of ``inputs`` or a folder holding one."""
    out = Path(out)
    target = out.resolve()
    for p in inputs:
        src = Path(p).resolve()
        if target == src or target in src.parents:
            raise ConfigError(f"--out {out}: would replace the input {p}; choose another folder")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError(f"--out {out}: exists and is not a folder; refusing to replace it "
                          "(choose a folder path)")  # fmt: skip
    if not out.is_dir() or overwrite or is_previous_export(out):
        return
    entries = sorted(c.name for c in out.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(f"--out {out}: folder exists and is not a gnnannot export (it holds "
                          f"{shown}); pass --overwrite to replace it, or choose another folder")


def overlay_frame(
    frame: np.ndarray,
    mask: np.ndarray,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    hidden: Iterable[int] = (),
) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB: ``frame`` with object pixels blended with their colour
    (``palette (256, 3) uint8``, default the DAVIS palette) and object boundaries drawn
    solid; objects in ``hidden`` are not drawn."""
    pal = PALETTE if palette is None else np.asarray(palette, np.uint8)
    hide = [int(k) for k in hidden]
    if hide:
        mask = mask.copy()
        mask[np.isin(mask, hide)] = 0
    out = frame.copy()
    obj = mask > 0
    if obj.any():
        colour = pal[mask]
        out[obj] = ((1 - alpha) * frame[obj] + alpha * colour[obj]).astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, kernel) > 0
        out[edge] = pal[cv2.dilate(mask, kernel)[edge]]  # solid outlines
    return out


class OverlayWriter:
    """Streaming mp4 writer (OpenCV ``mp4v``) of RGB frames; DataError if it cannot open."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        h, w = size
        self.path = Path(path)
        self._pad = (h % 2, w % 2)  # MPEG-4 needs even sizes: pad odd ones by one pixel
        self._w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                  float(fps), (w + w % 2, h + h % 2))  # fmt: skip
        if not self._w.isOpened():
            raise DataError(f"{self.path}: OpenCV cannot write an mp4v video here")

    def write(self, frame: np.ndarray) -> None:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if any(self._pad):
            bgr = cv2.copyMakeBorder(bgr, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        self._w.write(bgr)

    def close(self) -> None:
        self._w.release()


def rle_record(mask: np.ndarray, t: int, name: str, n_objects: int) -> dict[str, Any]:
    """The RLE JSON record of one frame (see module doc)."""
    objects = []
    for k in range(1, n_objects + 1):
        m = mask == k
        seg = rle.encode(m)
        objects.append({"object_id": k, "segmentation": seg, "area": int(m.sum()),
                        "bbox": rle.bbox(m)})  # fmt: skip
    h, w = mask.shape
    return {"frame": t, "file_name": name, "height": h, "width": w, "objects": objects}


class _PaletteWriter:
    def __init__(self, ctx: ExportContext) -> None:
        self.dir = ctx.folder / "masks"
        self.dir.mkdir()

    def write(self, t: int, name: str, mask: np.ndarray, frame: np.ndarray | None) -> None:
        write_palette_png(self.dir / f"{name}.png", mask)

    def close(self) -> None:
        pass


class _RLEWriter:
    def __init__(self, ctx: ExportContext) -> None:
        self.dir = ctx.folder / "rle"
        self.dir.mkdir()
        self.n_objects = ctx.n_objects

    def write(self, t: int, name: str, mask: np.ndarray, frame: np.ndarray | None) -> None:
        rec = rle_record(mask, t, name, self.n_objects)
        (self.dir / f"{name}.json").write_text(json.dumps(rec))

    def close(self) -> None:
        pass


class _OverlayVideoWriter:
    def __init__(self, ctx: ExportContext) -> None:
        self.path, self.fps = ctx.folder / "overlay.mp4", ctx.fps
        self._w: OverlayWriter | None = None

    def write(self, t: int, name: str, mask: np.ndarray, frame: np.ndarray | None) -> None:
        assert frame is not None
        if self._w is None:
            self._w = OverlayWriter(self.path, self.fps, mask.shape)
        self._w.write(overlay_frame(frame, mask))

    def close(self) -> None:
        if self._w is not None:
            self._w.close()


register_format(ExportFormat("masks", "DAVIS palette PNG per frame (masks/)", _PaletteWriter,
                             "masks/"))
register_format(ExportFormat("rle", "COCO RLE JSON per frame (rle/)", _RLEWriter, "rle/"))
register_format(ExportFormat("overlay", "the video with the masks blended in (overlay.mp4)",
                             _OverlayVideoWriter, "overlay.mp4", needs_frames=True))


def export_masks(
    out: str | os.PathLike[str],
    masks: Iterable[np.ndarray],
    frames: Iterable[np.ndarray],
    frame_names: list[str],
    n_objects: int,
    fps: float,
    *,
    formats: Iterable[str] | None = None,
    overlay: bool = True,
    rle_json: bool = True,
    info: dict[str, Any] | None = None,
    quiet: bool = True,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write every frame's mask (``(H, W)`` uint8 ids) in each of the export ``formats``
    (default: the registered default ones; ``overlay=False`` / ``rle_json=False`` leave
    those two out) into ``out`` atomically (``out`` is replaced only on success), plus the
    ``segment.json`` manifest. ``frames``: the original RGB frames in order (for the
    formats that need them, e.g. the overlay; may be empty otherwise).
    ``overwrite``/``inputs``: see :func:`check_out`. Returns ``out``."""
    out = Path(out)
    without = [n for n, keep in (("overlay", overlay), ("rle", rle_json)) if not keep]
    chosen = resolve_formats(formats, without=without)
    check_out(out, overwrite=overwrite, inputs=inputs)
    n = len(frame_names)
    with atomic_dir(out) as tmp:
        ctx = ExportContext(tmp, n, n_objects, fps)
        writers: list[FrameWriter] = []
        count = 0
        try:
            for name in chosen:
                writers.append(_FORMATS[name].open(ctx))
            frame_iter = iter(frames) if any(_FORMATS[f].needs_frames for f in chosen) else None
            for t, mask in track(enumerate(masks), "export", total=n, quiet=quiet):
                if t >= n:
                    raise DataError(f"export: more masks than the {n} frame names")
                mask = np.asarray(mask, dtype=np.uint8)
                frame = None
                if frame_iter is not None:
                    frame = next(frame_iter, None)
                    if frame is None:
                        raise DataError(f"export: the video has fewer frames than masks ({t})")
                    if frame.shape[:2] != mask.shape:
                        raise DataError(
                            f"export: frame {t} has size {frame.shape[:2]}, mask {mask.shape}"
                        )
                for name, w in zip(chosen, writers, strict=True):
                    w.write(t, frame_names[t], mask,
                            frame if _FORMATS[name].needs_frames else None)  # fmt: skip
                count += 1
        finally:
            for w in writers:
                w.close()
        if count != n:
            raise DataError(f"export: {count} masks for {n} frames")
        outputs = {f: (_FORMATS[f].entry if f in chosen else None) for f in _FORMATS}
        summary = {"format": EXPORT_FORMAT, **(info or {}), "n_frames": n, "n_objects": n_objects,
                   "outputs": outputs}  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(summary, indent=2) + "\n")
    return out
