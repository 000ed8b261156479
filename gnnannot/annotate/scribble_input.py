"""Scribbles from users: DAVIS scribble JSON files, scribble PNGs and label arrays, turned
into validated DAVIS scribble dicts.

Scribble PNG convention: a palette (indexed, mode ``P``) or greyscale (mode ``L``) image
of the frame's original size whose pixel values are ``k`` = a stroke of object ``k``
(1..254), ``255`` = a background stroke, ``0`` = nothing. It marks **one frame**:

* ``frame=`` given (CLI ``--frame``): that frame index (0-based);
* else the file's stem names a frame file of a frame folder (``img_0042.png`` for the
  frame ``img_0042.jpg``);
* else a stem of digits is the 0-based frame index (``00012.png`` -> frame 12).

The stroke pixels are converted to DAVIS strokes (one straight run of pixels per stroke,
normalised coordinates chosen so that the DAVIS rasterisation at the working resolution
hits exactly the working pixels the original pixels fall in).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gnnannot.data.davis import read_scribble, validate_scribble
from gnnannot.errors import DataError

__all__ = [
    "BACKGROUND_VALUE",
    "check_object_ids",
    "labels_to_scribble",
    "load_scribble",
    "object_ids",
    "read_scribble_png",
]

BACKGROUND_VALUE = 255
SCRIBBLE_IMAGE_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".gif")


def read_scribble_png(path: str | os.PathLike[str]) -> np.ndarray:
    """``(H, W) uint8`` values of a palette/greyscale scribble image (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: scribble file not found")
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise DataError(
                    f"{path}: scribble image must be a palette (mode 'P') or greyscale (mode "
                    f"'L') image whose values are object ids (255 = background), found mode "
                    f"{img.mode!r}"
                )
            return np.array(img, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt files
        raise DataError(f"{path}: cannot read scribble image ({exc})") from exc


def _norm(idx: np.ndarray, n: int) -> np.ndarray:
    """Normalised coordinate whose DAVIS rasterisation ``int(c * (n - 1))`` is ``idx``."""
    if n <= 1:
        return np.zeros(idx.shape, dtype=np.float64)
    return np.minimum((idx + 0.5) / (n - 1), 1.0)


def labels_to_scribble(
    values: np.ndarray,
    frame: int,
    n_frames: int,
    work_size: tuple[int, int],
    source: str = "scribble image",
    sequence: str = "",
) -> dict[str, Any]:
    """DAVIS scribble dict of one frame from ``values (H, W)`` (0 nothing, 255 background,
    k object k), at any size: each pixel is mapped to the working pixel it falls in, and
    every horizontal run of working pixels of one label becomes a 2-point stroke."""
    v = np.asarray(values)
    if v.ndim != 2:
        raise DataError(f"{source}: scribble labels must be 2-D (H, W), found {v.shape}")
    if not 0 <= frame < n_frames:
        raise DataError(f"{source}: frame {frame} is outside the video's frames 0..{n_frames - 1}")
    h0, w0 = v.shape
    hw, ww = work_size
    strokes: list[dict[str, Any]] = []
    order = sorted(int(x) for x in np.unique(v) if x != 0)
    order.sort(key=lambda x: x != BACKGROUND_VALUE)  # background first, objects on top
    for val in order:
        ys, xs = np.nonzero(v == val)
        if (h0, w0) == (hw, ww):  # already at the working size: row-major, unique
            key = ys.astype(np.int64) * ww + xs
        else:
            wy = (ys * hw) // h0  # working pixel each original pixel falls in
            wx = (xs * ww) // w0
            key = np.unique(wy.astype(np.int64) * ww + wx)
        ky, kx = key // ww, key % ww
        # runs of consecutive x within one row (key is sorted by row, then x)
        brk = np.flatnonzero((np.diff(ky) != 0) | (np.diff(kx) != 1)) + 1
        starts = np.concatenate([[0], brk])
        ends = np.concatenate([brk, [key.size]]) - 1
        oid = 0 if val == BACKGROUND_VALUE else val
        y_n = _norm(ky[starts], hw)
        x0_n, x1_n = _norm(kx[starts], ww), _norm(kx[ends], ww)
        for y, a, b in zip(y_n.tolist(), x0_n.tolist(), x1_n.tolist(), strict=True):
            strokes.append({"path": [[a, y], [b, y]], "object_id": int(oid),
                            "start_time": 0, "end_time": 0})  # fmt: skip
    scr: dict[str, Any] = {"scribbles": [[] for _ in range(n_frames)], "sequence": sequence}
    scr["scribbles"][frame] = strokes
    return scr


def _frame_from_name(path: Path, frame_names: list[str] | None, n_frames: int) -> int:
    stem = path.stem
    if frame_names and stem in frame_names:
        return frame_names.index(stem)
    if stem.isdigit():
        return int(stem)
    raise DataError(
        f"{path}: cannot tell which frame this scribble image marks: name it after the frame "
        f"(a frame file's name, or the 0-based index like 00012.png) or give its frame "
        f"(--frame / frame=), one of 0..{n_frames - 1}"
    )


def load_scribble(
    source: Any,
    *,
    n_frames: int,
    frame_size: tuple[int, int],
    work_size: tuple[int, int],
    frame: int | None = None,
    frame_names: list[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """A validated DAVIS scribble dict of ``n_frames`` frames from ``source`` (a scribble
    dict, a JSON path, a scribble image path, or an ``(H, W)`` label array with
    ``frame``), and a name for error messages. Image scribbles must have the original
    ``frame_size (H, W)``. Raises DataError on a malformed or empty scribble."""
    if isinstance(source, dict):
        name = "scribble dict"
        scr = validate_scribble(source, name, n_frames)
    elif isinstance(source, np.ndarray):
        name = "scribble array"
        if frame is None:
            raise DataError(f"{name}: a scribble label array needs its frame index (frame=)")
        _check_size(source.shape, frame_size, name)
        scr = labels_to_scribble(source, frame, n_frames, work_size, name)
    else:
        path = Path(source)
        name = str(path)
        if path.suffix.lower() == ".json":
            scr = read_scribble(path, n_frames)
        elif path.suffix.lower() in SCRIBBLE_IMAGE_EXTENSIONS:
            values = read_scribble_png(path)
            _check_size(values.shape, frame_size, name)
            f = frame if frame is not None else _frame_from_name(path, frame_names, n_frames)
            scr = labels_to_scribble(values, f, n_frames, work_size, name)
        else:
            raise DataError(
                f"{path}: unknown scribble type {path.suffix!r}; expected a DAVIS scribble "
                f".json or a scribble image ({', '.join(SCRIBBLE_IMAGE_EXTENSIONS)})"
            )
    if not object_ids(scr, include_background=True):
        raise DataError(f"{name}: the scribble is empty (no stroke on any frame)")
    return scr, name


def _check_size(shape: tuple[int, ...], frame_size: tuple[int, int], name: str) -> None:
    if tuple(shape[:2]) != tuple(frame_size) or len(shape) != 2:
        raise DataError(
            f"{name}: scribble image has size {shape[1] if len(shape) > 1 else '?'}x{shape[0]} "
            f"(WxH), expected the frames' size {frame_size[1]}x{frame_size[0]}"
        )


def object_ids(scribble: dict[str, Any], include_background: bool = False) -> set[int]:
    """Object ids with at least one non-empty stroke (0 = background only if asked)."""
    ids = {
        int(s["object_id"])
        for strokes in scribble["scribbles"]
        for s in strokes
        if len(s["path"]) > 0
    }
    return ids if include_background else ids - {0}


def check_object_ids(named: list[tuple[str, dict[str, Any]]], n_objects: int | None = None) -> int:
    """Number of objects of a series of interactions ``[(name, scribble), ...]``.

    Without ``n_objects`` the ids used in all of them must be exactly ``1..K`` (no gaps)
    and K is returned; with it, every id must be in ``1..n_objects``. DataError otherwise.
    """
    used: set[int] = set()
    for name, scr in named:
        ids = object_ids(scr)
        if n_objects is not None and ids and max(ids) > n_objects:
            raise DataError(
                f"{name}: object id {max(ids)} but the session has {n_objects} objects "
                "(all objects must appear in the first interaction; ids are 1..K)"
            )
        used |= ids
    if n_objects is not None:
        return n_objects
    if not used:
        names = ", ".join(n for n, _ in named)
        raise DataError(f"{names}: no object stroke (only background); mark at least object 1")
    k = max(used)
    missing = sorted(set(range(1, k + 1)) - used)
    if missing:
        names = ", ".join(n for n, _ in named)
        raise DataError(
            f"{names}: object ids must be 1..K without gaps, found {sorted(used)} "
            f"(missing {missing})"
        )
    return k
