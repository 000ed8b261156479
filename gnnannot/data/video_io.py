"""A user's video: a video file (read with OpenCV) or a folder of image files, streamed
one frame at a time (never all decoded in memory), plus its content hash and the working
resolution it is processed at."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gnnannot.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "VideoSource", "open_video", "working_size"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 24.0
_HASH_CHUNK = 1 << 20


def _natural_key(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


def working_size(height: int, width: int, work_height: int | None) -> tuple[int, int]:
    """``(h, w)`` the video is processed at: scaled down (aspect kept) so that the height
    is at most ``work_height`` (None or 0: original size); never scaled up."""
    if not work_height or height <= work_height:
        return height, width
    scale = work_height / height
    return int(work_height), max(2, int(round(width * scale)))


@dataclass
class VideoSource:
    """A video file or a folder of frames.

    ``frames()`` yields ``(H, W, 3) uint8`` RGB frames at the original size, one at a
    time; ``n_frames``, ``height``, ``width`` are found when opening (a video file is
    decoded once to count its frames, since container frame counts are unreliable).
    """

    path: Path
    kind: str  # "file" | "folder"
    n_frames: int
    height: int
    width: int
    fps: float
    files: tuple[Path, ...] = ()

    # ------------------------------------------------------------------ frames
    def frames(self) -> Iterator[np.ndarray]:
        """Stream all frames, ``(H, W, 3) uint8`` RGB; DataError if one cannot be read or
        differs in size."""
        if self.kind == "folder":
            for t, p in enumerate(self.files):
                yield self.check_frame(_read_image(p), t, p)
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise DataError(f"{self.path}: cannot open video")
            t = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                if t >= self.n_frames:
                    break
                yield self.check_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t, self.path)
                t += 1
            if t != self.n_frames:
                raise DataError(
                    f"{self.path}: decoded {t} frames, expected {self.n_frames} (file changed?)"
                )
        finally:
            cap.release()

    def check_frame(self, frame: np.ndarray, t: int, where: Path) -> np.ndarray:
        if frame.shape[:2] != (self.height, self.width):
            raise DataError(
                f"{where}: frame {t} has size {frame.shape[1]}x{frame.shape[0]}, expected "
                f"{self.width}x{self.height} (all frames must have the same size)"
            )
        return frame

    def frame_names(self) -> list[str]:
        """Stem of each frame file (folder input) or its 5-digit index (video file)."""
        if self.kind == "folder":
            return [p.stem for p in self.files]
        return [f"{t:05d}" for t in range(self.n_frames)]

    # ------------------------------------------------------------------ hashing
    def content_hash(self) -> str:
        """SHA-256 of the video bytes (file) or of the frame files' names and bytes
        (folder), hex."""
        h = hashlib.sha256()
        paths = [self.path] if self.kind == "file" else list(self.files)
        for p in paths:
            h.update(p.name.encode() + b"\0")
            with open(p, "rb") as fh:
                while chunk := fh.read(_HASH_CHUNK):
                    h.update(chunk)
            h.update(b"\0")
        return h.hexdigest()


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: cannot read image (unsupported or corrupt file)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def open_video(path: str | os.PathLike[str], fps: float | None = None) -> VideoSource:
    """Open a video file or a folder of image files (sorted by name, numbers compared
    numerically: ``f2.png`` before ``f10.png``). Raises DataError for a missing path, an
    unreadable video, an empty folder or a first frame that cannot be read."""
    p = Path(path)
    if p.is_dir():
        files = sorted(
            (q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS),
            key=_natural_key,
        )
        if not files:
            raise DataError(
                f"{p}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in the frame folder"
            )
        first = _read_image(files[0])
        return VideoSource(p, "folder", len(files), first.shape[0], first.shape[1],
                           float(fps or DEFAULT_FPS), tuple(files))  # fmt: skip
    if not p.is_file():
        raise DataError(f"{p}: video file or frame folder not found")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise DataError(f"{p}: cannot open video (not a video file OpenCV can decode)")
        video_fps = cap.get(cv2.CAP_PROP_FPS)
        n, shape = 0, None
        while cap.grab():  # count without converting frames
            if shape is None:
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                shape = bgr.shape[:2]
            n += 1
    finally:
        cap.release()
    if n == 0 or shape is None:
        raise DataError(f"{p}: cannot read any frame from the video (corrupt or unsupported)")
    rate = fps or (video_fps if video_fps and np.isfinite(video_fps) and video_fps > 0
                   else DEFAULT_FPS)  # fmt: skip
    return VideoSource(p, "file", n, int(shape[0]), int(shape[1]), float(rate))
