"""Write a segmentation in standard formats, streaming one frame at a time.

Layout of the output folder (written to a temporary sibling and renamed into place only
when everything succeeded, :func:`gnnannot.atomic.atomic_dir`)::

    masks/<frame>.png     DAVIS palette PNG per frame: pixel value = object id, 0 = background
    rle/<frame>.json      COCO-style RLE per frame: one entry per object 1..K
    overlay.mp4           frames with the masks blended in colour (MPEG-4 part 2, ``mp4v``;
                          odd sizes padded by one pixel)
    segment.json          what was run: video, sizes, method, interactions, timings

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.annotate import rle
from gnnannot.atomic import atomic_dir
from gnnannot.errors import ConfigError, DataError
from gnnannot.progress import track
from gnnannot.store.palette import PALETTE, write_palette_png

__all__ = ["OverlayWriter", "check_out", "export_masks", "is_previous_export", "overlay_frame",
           "rle_record"]

MANIFEST = "segment.json"
EXPORT_FORMAT = "gnnannot.export/1"
EXPORT_ENTRIES = frozenset({"masks", "rle", "overlay.mp4", MANIFEST})


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
        and names <= EXPORT_ENTRIES
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


def export_masks(
    out: str | os.PathLike[str],
    masks: Iterable[np.ndarray],
    frames: Iterable[np.ndarray],
    frame_names: list[str],
    n_objects: int,
    fps: float,
    *,
    overlay: bool = True,
    rle_json: bool = True,
    info: dict[str, Any] | None = None,
    quiet: bool = True,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write every frame's mask (``(H, W)`` uint8 ids) as palette PNG, RLE JSON and overlay
    video frame into ``out`` atomically (``out`` is replaced only on success).
    ``frames``: the original RGB frames in order (for the overlay; may be empty when
    ``overlay`` is False). ``overwrite``/``inputs``: see :func:`check_out`. Returns ``out``."""
    out = Path(out)
    check_out(out, overwrite=overwrite, inputs=inputs)
    n = len(frame_names)
    with atomic_dir(out) as tmp:
        (tmp / "masks").mkdir()
        if rle_json:
            (tmp / "rle").mkdir()
        writer: OverlayWriter | None = None
        frame_iter = iter(frames) if overlay else None
        count = 0
        try:
            for t, mask in track(enumerate(masks), "export", total=n, quiet=quiet):
                if t >= n:
                    raise DataError(f"export: more masks than the {n} frame names")
                mask = np.asarray(mask, dtype=np.uint8)
                name = frame_names[t]
                write_palette_png(tmp / "masks" / f"{name}.png", mask)
                if rle_json:
                    rec = rle_record(mask, t, name, n_objects)
                    (tmp / "rle" / f"{name}.json").write_text(json.dumps(rec))
                if frame_iter is not None:
                    frame = next(frame_iter, None)
                    if frame is None:
                        raise DataError(f"export: the video has fewer frames than masks ({t})")
                    if frame.shape[:2] != mask.shape:
                        raise DataError(
                            f"export: frame {t} has size {frame.shape[:2]}, mask {mask.shape}"
                        )
                    if writer is None:
                        writer = OverlayWriter(tmp / "overlay.mp4", fps, mask.shape)
                    writer.write(overlay_frame(frame, mask))
                count += 1
        finally:
            if writer is not None:
                writer.close()
        if count != n:
            raise DataError(f"export: {count} masks for {n} frames")
        summary = {"format": EXPORT_FORMAT, **(info or {}), "n_frames": n, "n_objects": n_objects,
                   "outputs": {"masks": "masks/", "rle": "rle/" if rle_json else None,
                               "overlay": "overlay.mp4" if overlay else None}}  # fmt: skip
        (tmp / "segment.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out
