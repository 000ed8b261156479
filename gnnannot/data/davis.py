"""Read and write datasets in the DAVIS-2017 layout.

Layout under a root folder::

    JPEGImages/480p/<seq>/00000.jpg ...     RGB frames
    Annotations/480p/<seq>/00000.png ...    palette PNG, value = object id, 0 = background
    ImageSets/2017/train.txt, val.txt       one sequence name per line
    Scribbles/<seq>/001.json ...            DAVIS scribble JSON

Scribble JSON: ``{"scribbles": [[{"path": [[x, y], ...], "object_id": k,
"start_time": t0, "end_time": t1}, ...] for each frame], "sequence": name}`` with
coordinates normalised to [0, 1] (x to the width, y to the height).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.atomic import atomic_file
from gnnannot.errors import DataError
from gnnannot.store.palette import read_palette_png, write_palette_png

RESOLUTION = "480p"
SPLITS = ("train", "val")


def images_dir(root: str | os.PathLike[str], seq: str) -> Path:
    return Path(root) / "JPEGImages" / RESOLUTION / seq


def annotations_dir(root: str | os.PathLike[str], seq: str) -> Path:
    return Path(root) / "Annotations" / RESOLUTION / seq


def scribbles_dir(root: str | os.PathLike[str], seq: str) -> Path:
    return Path(root) / "Scribbles" / seq


def imageset_path(root: str | os.PathLike[str], split: str) -> Path:
    return Path(root) / "ImageSets" / "2017" / f"{split}.txt"


# --------------------------------------------------------------------------- sequences
def read_split(root: str | os.PathLike[str], split: str) -> list[str]:
    """Sequence names listed in ``ImageSets/2017/<split>.txt``."""
    path = imageset_path(root, split)
    if not path.is_file():
        raise DataError(f"{path}: split file for {split!r} not found")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: split {split!r} lists no sequences")
    return names


def write_split(root: str | os.PathLike[str], split: str, names: list[str]) -> None:
    path = imageset_path(root, split)
    with atomic_file(path) as tmp:
        tmp.write_text("".join(f"{n}\n" for n in names))


def list_sequences(root: str | os.PathLike[str]) -> list[str]:
    """All sequence folders under ``JPEGImages/480p`` (sorted)."""
    base = Path(root) / "JPEGImages" / RESOLUTION
    if not base.is_dir():
        raise DataError(f"{base}: image folder not found (expected DAVIS layout under {root})")
    return sorted(p.name for p in base.iterdir() if p.is_dir())


# --------------------------------------------------------------------------- frames
def frame_paths(root: str | os.PathLike[str], seq: str) -> list[Path]:
    """Sorted JPEG frame paths of ``seq``."""
    folder = images_dir(root, seq)
    if not folder.is_dir():
        raise DataError(f"{folder}: frame folder of sequence {seq!r} not found")
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise DataError(f"{folder}: no .jpg frames in sequence {seq!r}")
    return paths


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one image file as ``(H, W, 3) uint8`` RGB."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: cannot read image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_frames(root: str | os.PathLike[str], seq: str) -> Iterator[np.ndarray]:
    """Stream the frames of ``seq`` one at a time, each ``(H, W, 3) uint8`` RGB."""
    for path in frame_paths(root, seq):
        yield read_image(path)


def read_frames(root: str | os.PathLike[str], seq: str) -> np.ndarray:
    """All frames of ``seq`` as ``(T, H, W, 3) uint8`` RGB."""
    return np.stack(list(iter_frames(root, seq)))


def write_frame(path: str | os.PathLike[str], frame: np.ndarray, quality: int = 90) -> None:
    """Write an ``(H, W, 3) uint8`` RGB frame as JPEG, atomically."""
    bgr = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DataError(f"{path}: JPEG encoding failed")
    with atomic_file(path) as tmp:
        tmp.write_bytes(buf.tobytes())


# --------------------------------------------------------------------------- annotations
def annotation_paths(root: str | os.PathLike[str], seq: str) -> list[Path]:
    folder = annotations_dir(root, seq)
    if not folder.is_dir():
        raise DataError(f"{folder}: annotation folder of sequence {seq!r} not found")
    return sorted(folder.glob("*.png"))


def read_annotations(root: str | os.PathLike[str], seq: str) -> np.ndarray:
    """Ground-truth masks of ``seq`` as ``(T, H, W) uint8`` object ids."""
    paths = annotation_paths(root, seq)
    if not paths:
        raise DataError(f"{annotations_dir(root, seq)}: no .png annotations")
    return np.stack([read_palette_png(p) for p in paths])


def num_objects(masks: np.ndarray) -> int:
    """Number of objects (largest id) in a mask volume."""
    return int(masks.max()) if masks.size else 0


def write_sequence(
    root: str | os.PathLike[str],
    seq: str,
    frames: np.ndarray,
    masks: np.ndarray | None = None,
    quality: int = 90,
) -> None:
    """Write frames ``(T, H, W, 3) uint8`` and optional masks ``(T, H, W)`` of ``seq``."""
    for t, frame in enumerate(frames):
        write_frame(images_dir(root, seq) / f"{t:05d}.jpg", frame, quality)
    if masks is not None:
        for t, mask in enumerate(masks):
            write_palette_png(annotations_dir(root, seq) / f"{t:05d}.png", mask)


# --------------------------------------------------------------------------- scribbles
def scribble_paths(root: str | os.PathLike[str], seq: str) -> list[Path]:
    folder = scribbles_dir(root, seq)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def validate_scribble(
    data: Any,
    source: str = "scribble",
    n_frames: int | None = None,
    n_objects: int | None = None,
) -> dict[str, Any]:
    """Check a scribble dict against the DAVIS scribble format; return it unchanged.

    Raises :class:`DataError` naming ``source`` and the offending key on any problem:
    missing keys, wrong types, coordinates outside [0, 1], a frame count different from
    ``n_frames``, or an object id outside ``0..n_objects`` (0 is background).
    """
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a JSON object, found {type(data).__name__}")
    if "scribbles" not in data:
        raise DataError(f"{source}: missing key 'scribbles'")
    frames = data["scribbles"]
    if not isinstance(frames, list):
        raise DataError(f"{source}: 'scribbles' must be a list (one entry per frame)")
    if n_frames is not None and len(frames) != n_frames:
        raise DataError(
            f"{source}: 'scribbles' has {len(frames)} frame entries, expected {n_frames} "
            "(one per video frame)"
        )
    for f, strokes in enumerate(frames):
        if not isinstance(strokes, list):
            raise DataError(f"{source}: scribbles[{f}] must be a list of strokes")
        for s, stroke in enumerate(strokes):
            where = f"{source}: scribbles[{f}][{s}]"
            if not isinstance(stroke, dict):
                raise DataError(f"{where} must be an object with 'path' and 'object_id'")
            for key in ("path", "object_id"):
                if key not in stroke:
                    raise DataError(f"{where}: missing key {key!r}")
            oid = stroke["object_id"]
            if isinstance(oid, bool) or not isinstance(oid, int) or oid < 0:
                raise DataError(f"{where}: 'object_id' must be an int >= 0, found {oid!r}")
            if n_objects is not None and oid > n_objects:
                raise DataError(
                    f"{where}: 'object_id' {oid} but the sequence has {n_objects} objects"
                )
            path = stroke["path"]
            try:
                arr = np.asarray(path, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise DataError(f"{where}: 'path' must be a list of [x, y] numbers") from exc
            if arr.size == 0:
                continue
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise DataError(
                    f"{where}: 'path' must have shape (n, 2) of [x, y], found {arr.shape}"
                )
            if not np.isfinite(arr).all():
                raise DataError(f"{where}: 'path' contains NaN or infinite coordinates")
            if arr.min() < 0.0 or arr.max() > 1.0:
                raise DataError(
                    f"{where}: 'path' coordinates must be normalised to [0, 1], found "
                    f"{arr.min():.4g}..{arr.max():.4g}"
                )
    if "sequence" in data and not isinstance(data["sequence"], str):
        raise DataError(f"{source}: 'sequence' must be a string")
    return data


def read_scribble(
    path: str | os.PathLike[str], n_frames: int | None = None, n_objects: int | None = None
) -> dict[str, Any]:
    """Read and validate a DAVIS scribble JSON file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: scribble file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed scribble JSON ({exc})") from exc
    return validate_scribble(data, str(path), n_frames, n_objects)


def write_scribble(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Validate and write a scribble dict as JSON, atomically."""
    validate_scribble(data, str(path))
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data))


def empty_scribble(n_frames: int, sequence: str = "") -> dict[str, Any]:
    """A scribble dict with no strokes on any of ``n_frames`` frames."""
    return {"scribbles": [[] for _ in range(n_frames)], "sequence": sequence}


def annotated_frames(scribble: dict[str, Any]) -> list[int]:
    """Indices of frames that carry at least one non-empty stroke."""
    return [
        f for f, strokes in enumerate(scribble["scribbles"])
        if any(len(s["path"]) > 0 for s in strokes)
    ]
