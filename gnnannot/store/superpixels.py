"""The superpixels store (``data/superpixels.zarr``): per video ``labels`` (T, H, W) local
superpixel ids, one frame per chunk, and ``frame_offsets`` (T+1,) (schema: ``SCHEMA.md``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from gnnannot.errors import DataError
from gnnannot.store import guard
from gnnannot.store.base import (
    SHARD_FRAMES,
    ShardReader,
    ensure_store,
    group_writer,
    open_video_group,
    read_array,
    write_rows,
)

SUPERPIXEL_ARRAYS = ("labels", "frame_offsets")


class SuperpixelWriter:
    """Write one video's superpixel labels frame by frame (in order), buffered per shard.

    ``labels`` is stored as (T, H, W) uint16 per-frame local ids (uint32 when
    ``max_per_frame`` >= 65536), chunk = one frame, shard = ``SHARD_FRAMES`` frames.
    Call :meth:`write` T times inside ``with``; ``frame_offsets`` is written at the end.
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        seq: str,
        n_frames: int,
        height: int,
        width: int,
        attrs: dict[str, Any],
        max_per_frame: int = 65535,
    ) -> None:
        self.store = ensure_store(store, "superpixels")
        self.seq = seq
        self.shape = (int(n_frames), int(height), int(width))
        self.dtype = np.dtype(np.uint16 if max_per_frame < 65536 else np.uint32)
        self.attrs = {**attrs, "n_frames": n_frames, "height": height, "width": width}
        self.shard = max(1, min(SHARD_FRAMES, n_frames))
        self.counts: list[int] = []
        self._buf = np.zeros((self.shard, height, width), dtype=self.dtype)
        self._nbuf = 0
        self._cm: Any = None
        self._grp: zarr.Group | None = None
        self._arr: Any = None

    def __enter__(self) -> SuperpixelWriter:
        self._cm = group_writer(self.store, self.seq, self.attrs, SUPERPIXEL_ARRAYS)
        self._grp = self._cm.__enter__()
        t, h, w = self.shape
        self._arr = self._grp.create_array(
            "labels", shape=self.shape, dtype=self.dtype, chunks=(1, h, w),
            shards=(self.shard, h, w), compressors=guard.compressors(), fill_value=0,
            config=guard.ARRAY_CONFIG,
        )  # fmt: skip
        return self

    def write(self, labels: np.ndarray, n: int | None = None) -> None:
        """Append the next frame: (H, W) int local labels ``0..n-1``."""
        t = len(self.counts)
        if t >= self.shape[0]:
            raise DataError(f"{self.store}/{self.seq}: more than {self.shape[0]} frames")
        if labels.shape != self.shape[1:]:
            raise DataError(
                f"{self.store}/{self.seq}: frame {t} labels have shape {labels.shape}, "
                f"expected {self.shape[1:]}"
            )
        n = int(labels.max()) + 1 if n is None else int(n)
        if n - 1 > np.iinfo(self.dtype).max:
            raise DataError(f"{self.store}/{self.seq}: frame {t} has {n} superpixels, too many")
        self.counts.append(n)
        self._buf[self._nbuf] = labels
        self._nbuf += 1
        if self._nbuf == self.shard or len(self.counts) == self.shape[0]:
            stop = len(self.counts)
            self._arr[stop - self._nbuf : stop] = self._buf[: self._nbuf]
            self._nbuf = 0

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        cm, self._cm = self._cm, None
        if exc_type is None and len(self.counts) != self.shape[0]:
            err = DataError(
                f"{self.store}/{self.seq}: {len(self.counts)} of {self.shape[0]} frames written"
            )
            cm.__exit__(DataError, err, None)
            raise err
        if exc_type is None:
            assert self._grp is not None
            offsets = np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)])
            write_rows(self._grp, "frame_offsets", offsets)
            self._grp.attrs["n_nodes"] = int(offsets[-1])
        cm.__exit__(exc_type, exc, tb)


class SuperpixelVideo:
    """Reader of one video's superpixel group: ``local(t)`` (H, W) uint16/uint32 local ids,
    ``local_all()`` (T, H, W), ``offsets`` (T+1,) int64."""

    def __init__(self, store: str | os.PathLike[str], seq: str) -> None:
        self.store = Path(store)
        self.seq = seq
        self.group = open_video_group(store, seq, "superpixels")
        self.attrs = dict(self.group.attrs)
        self.where = f"{self.store}/{seq}"
        self.offsets = read_array(self.group, "frame_offsets", self.where).astype(np.int64)
        try:
            self._labels = self.group["labels"]
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{self.where}: array 'labels' missing") from exc
        self.n_frames, self.height, self.width = (int(s) for s in self._labels.shape)
        self._fast = ShardReader.create(self._labels)
        if len(self.offsets) != self.n_frames + 1:
            raise DataError(
                f"{self.where}: frame_offsets has {len(self.offsets)} entries, expected "
                f"{self.n_frames + 1}"
            )

    @property
    def fingerprint(self) -> str:
        return str(self.attrs.get("fingerprint", ""))

    def local(self, t: int) -> np.ndarray:
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.where}: frame {t} out of range 0..{self.n_frames - 1}")
        if self._fast is not None:
            out = self._fast._read_fast(t)
            if out is not None:
                return out
        return read_array(self.group, "labels", self.where, t)

    def local_all(self) -> np.ndarray:
        if self._fast is not None:
            out = np.empty((self.n_frames, self.height, self.width), dtype=self._fast.dtype)
            if all(self._fast._read_fast(t, out[t]) is not None for t in range(self.n_frames)):
                return out
        return read_array(self.group, "labels", self.where)


def open_superpixels(store: str | os.PathLike[str], seq: str) -> SuperpixelVideo:
    return SuperpixelVideo(store, seq)
