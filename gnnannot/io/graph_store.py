"""Zarr v3 stores of the superpixels, features and graphs stages, and the graph reader.

Three stores, one per stage (``data/superpixels.zarr``, ``data/features.zarr``,
``data/graphs.zarr``), one group per video; the schema is documented in
``gnnannot/io/SCHEMA.md``. :func:`open_graph` joins the three groups of a video into a
:class:`gnnannot.graph.VideoGraph` (labels loaded lazily, per frame or per video).

Reads of single frames of the flow store (:class:`FrameFlows`) and of the superpixel labels
go through :class:`ShardReader`, which decodes a chunk straight from its shard file (zarr's
own path costs about as much again as the decompression); it falls back to zarr for any
other layout or a damaged file, so the values are always those zarr returns.

Writes: a video group is built in a temporary sibling directory (``.tmp-<seq>-...``), its
``complete`` attr is set last, then it is renamed into place (replacing an older group),
so a killed run never leaves a group that looks complete, and files are never modified in
place (safe with DVC's hardlink/symlink cache links). Readers raise
:class:`gnnannot.errors.DataError` naming store, group and array for a missing, incomplete
or corrupt group.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from gnnannot.errors import DataError
from gnnannot.graph import VideoGraph
from gnnannot.io import store_guard as guard

# the stores share the flow store's .tmp-/.old- writer layout, lock and clean-up
from gnnannot.io.store_guard import clean_temporaries as clean_temporaries
from gnnannot.io.store_guard import locked_store as locked_store

FORMAT_VERSION = 2  # 2: CRC32C on every chunk, every chunk written, "arrays" attr
KINDS = ("superpixels", "features", "graphs")
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
SHARD_FRAMES = 32
ROW_CHUNK = 1 << 16


def _compressor() -> tuple[Any, ...]:
    return guard.compressors()


def json_safe(obj: Any) -> Any:
    """``obj`` round-tripped through JSON (tuples -> lists), as zarr attrs store it."""
    return json.loads(json.dumps(obj))


def fingerprint(*parts: Any) -> str:
    """SHA-256 (hex, 16 chars) of the JSON encoding of ``parts``."""
    blob = json.dumps(json_safe(list(parts)), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def files_digest(paths: Iterable[str | os.PathLike[str]]) -> str:
    """BLAKE2b digest (hex, 16 chars) of the names and contents of ``paths``."""
    h = hashlib.blake2b(digest_size=8)
    for p in paths:
        p = Path(p)
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- store level
def ensure_store(store: str | os.PathLike[str], kind: str, **attrs: Any) -> Path:
    """Create the root group of a ``kind`` store if missing (attrs ``schema``,
    ``format_version`` and ``attrs``); return its path."""
    path = Path(store)
    root_attrs = {"schema": f"gnnannot.{kind}", "format_version": FORMAT_VERSION, **attrs}
    if not (path / "zarr.json").is_file():
        path.mkdir(parents=True, exist_ok=True)
        grp = zarr.open_group(str(path), mode="a", zarr_format=3)
        grp.attrs.update(json_safe(root_attrs))
    else:
        grp = zarr.open_group(str(path), mode="r", zarr_format=3)
        have = dict(grp.attrs)
        if have.get("schema") not in (None, f"gnnannot.{kind}"):
            raise DataError(
                f"{path}: store holds {have.get('schema')!r}, expected 'gnnannot.{kind}'"
            )
        if any(have.get(k) != v for k, v in json_safe(root_attrs).items()):
            grp = zarr.open_group(str(path), mode="a", zarr_format=3)
            grp.attrs.update(json_safe(root_attrs))  # zarr writes zarr.json atomically
    return path


def list_videos(store: str | os.PathLike[str], complete_only: bool = True) -> list[str]:
    """Video groups of ``store`` (only complete ones by default), sorted."""
    path = Path(store)
    if not path.is_dir():
        return []
    names = sorted(
        c.name
        for c in path.iterdir()
        if c.is_dir() and not c.name.startswith(".") and (c / "zarr.json").is_file()
    )
    if complete_only:
        names = [n for n in names if (group_attrs(path, n) or {}).get("complete") is True]
    return names


def group_attrs(store: str | os.PathLike[str], seq: str) -> dict[str, Any] | None:
    """Attrs of group ``seq`` or None when it is missing or unreadable."""
    try:
        return dict(zarr.open_group(str(Path(store) / seq), mode="r", zarr_format=3).attrs)
    except Exception:  # noqa: BLE001 - any unreadable group counts as missing
        return None


def is_up_to_date(store: str | os.PathLike[str], seq: str, fp: str) -> bool:
    """Whether ``seq`` has a complete, structurally sound group (its arrays and all their
    chunk files present) with fingerprint ``fp``."""
    attrs = group_attrs(store, seq)
    return bool(
        attrs
        and attrs.get("complete") is True
        and attrs.get("format_version") == FORMAT_VERSION
        and attrs.get("fingerprint") == fp
        and attrs.get("arrays")
        and not guard.check_group(Path(store) / seq, attrs["arrays"])
    )


def remove_video(store: str | os.PathLike[str], seq: str) -> bool:
    """Delete group ``seq``; returns whether it existed."""
    path = Path(store) / seq
    if path.is_dir():
        shutil.rmtree(path)
        return True
    return False


def prune(store: str | os.PathLike[str], keep: Iterable[str]) -> list[str]:
    """Remove groups not named in ``keep`` (videos no longer in the dataset)."""
    keep = set(keep)
    gone = [n for n in list_videos(store, complete_only=False) if n not in keep]
    for name in gone:
        remove_video(store, name)
    return gone


@contextmanager
def group_writer(
    store: str | os.PathLike[str], seq: str, attrs: dict[str, Any],
    required: tuple[str, ...] = (),
) -> Iterator[zarr.Group]:  # fmt: skip
    """Yield a new zarr group for video ``seq`` in a temporary directory of ``store``; on
    normal exit check that the ``required`` arrays and all their chunk files are there
    (DataError otherwise), record the array names (attr ``arrays``), set ``complete=True``
    (last write) and rename it to ``store/seq``; on an exception delete it. The store must
    exist (:func:`ensure_store`)."""
    if not seq or seq.startswith(".") or "/" in seq or "\\" in seq:
        raise DataError(f"{store}: invalid video name {seq!r}")
    root = Path(store)
    tmp = root / guard.temp_name(TMP_PREFIX, seq)
    grp = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    grp.attrs.update(json_safe({**attrs, "format_version": FORMAT_VERSION, "complete": False}))
    try:
        yield grp
        names = guard.array_names(grp)
        problems = guard.check_group(tmp, [*required, *names])
        if problems or not names:
            raise DataError(f"{root}/{seq}: the written group is damaged "
                            f"({'; '.join(problems) or 'no arrays'}); not stored")  # fmt: skip
        grp.attrs["arrays"] = names
        grp.attrs["complete"] = True
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = root / seq
    old = None
    if final.exists():
        old = root / guard.temp_name(OLD_PREFIX, seq)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_rows(grp: zarr.Group, name: str, data: np.ndarray, dtype: Any = None) -> None:
    """Write a 1-D/2-D array chunked along its first axis (``ROW_CHUNK`` rows), compressed."""
    arr = np.asarray(data if dtype is None else np.asarray(data).astype(dtype))
    chunks = (max(1, min(ROW_CHUNK, arr.shape[0])), *arr.shape[1:])
    z = grp.create_array(
        name, shape=arr.shape, dtype=arr.dtype, chunks=chunks, compressors=_compressor(),
        fill_value=0, config=guard.ARRAY_CONFIG,
    )  # fmt: skip
    if arr.size:
        z[...] = arr


def open_video_group(store: str | os.PathLike[str], seq: str, kind: str) -> zarr.Group:
    """Open a complete video group for reading; DataError naming what is wrong."""
    path = Path(store)
    if not (path / "zarr.json").is_file():
        raise DataError(f"{path}: {kind} store not found (run the {kind!r} stage)")
    gpath = path / seq
    if not gpath.is_dir():
        raise DataError(f"{path}: no group for video {seq!r} (run the {kind!r} stage)")
    try:
        grp = zarr.open_group(str(gpath), mode="r", zarr_format=3)
        attrs = dict(grp.attrs)
    except Exception as exc:  # noqa: BLE001 - corrupt zarr.json etc.
        raise DataError(
            f"{path}: group {seq!r} is unreadable ({type(exc).__name__}: {exc}); "
            f"delete it and rerun the {kind!r} stage"
        ) from exc
    if attrs.get("complete") is not True:
        raise DataError(
            f"{path}: group {seq!r} is incomplete (complete attr is "
            f"{attrs.get('complete')!r}); rerun the {kind!r} stage"
        )
    if attrs.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: group {seq!r} has format_version {attrs.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}; rerun the {kind!r} stage"
        )
    problems = guard.check_group(gpath, attrs.get("arrays", []))
    if problems:
        raise DataError(f"{path}: group {seq!r} is damaged ({'; '.join(problems)}); rerun the "
                        f"{kind!r} stage")  # fmt: skip
    return grp


def read_array(grp: zarr.Group, name: str, where: str, index: Any = Ellipsis) -> np.ndarray:
    """``grp[name][index]`` as numpy; DataError naming ``where`` and ``name`` on failure."""
    try:
        arr = grp[name]
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{where}: array {name!r} missing ({type(exc).__name__})") from exc
    try:
        return np.asarray(arr[index])
    except IndexError:
        raise
    except Exception as exc:  # noqa: BLE001 - missing/corrupt chunk or shard, codec error
        raise DataError(
            f"{where}: array {name!r} cannot be read ({type(exc).__name__}: {exc})"
        ) from exc


# --------------------------------------------------------------------------- fast reads
_EMPTY = 2**64 - 1  # shard index entry of a chunk that was never written


class ShardReader:
    """Direct reads of leading-axis chunks of a sharded zarr v3 array on local disk.

    zarr's generic read path costs about as much again as decompressing a 3.3 MB flow
    chunk (asyncio round trip, index and buffer copies); this reads the shard index
    (checked with its CRC32C) and decodes the chunk's Blosc bytes straight into a fresh
    array. Only the layout this project writes is handled: chunks of ``(1, *shape[1:])``
    in shards of ``(S, *shape[1:])``, inner codecs ``bytes`` (little endian) + ``blosc``,
    index ``bytes`` + ``crc32c`` at the end, default ``/`` chunk keys. :meth:`create`
    returns None for anything else, and any read problem falls back to zarr (which then
    raises its own error), so results are always those of ``array[t]``.
    """

    def __init__(self, arr: zarr.Array, path: Path, shard: int, checksum: bool = False) -> None:
        self.arr = arr
        self.checksum = checksum  # inner chunks end with a CRC32C of the Blosc bytes
        self.path = path
        self.shard = shard
        self.chunk_shape = tuple(int(s) for s in arr.shape[1:])
        self.dtype = np.dtype(arr.dtype)
        self.fill = arr.metadata.fill_value
        self._index: dict[tuple[int, ...], np.ndarray] = {}
        self._rest = (0,) * len(self.chunk_shape)

    @classmethod
    def create(cls, arr: Any) -> ShardReader | None:
        """A reader for ``arr`` (a zarr Array) or None when its layout is not supported."""
        try:
            import sys

            from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec
            from zarr.codecs.sharding import ShardingCodecIndexLocation
            from zarr.core.chunk_key_encodings import DefaultChunkKeyEncoding
            from zarr.storage import LocalStore

            md = arr.metadata
            dtype = np.dtype(arr.dtype)
            shape = tuple(int(s) for s in arr.shape)
            if (
                sys.byteorder != "little"
                or md.zarr_format != 3
                or not isinstance(arr.store, LocalStore)
                or dtype.kind not in "biuf"
                or len(shape) < 2
                or len(md.codecs) != 1
                or not isinstance(md.codecs[0], ShardingCodec)
                or not isinstance(md.chunk_key_encoding, DefaultChunkKeyEncoding)
                or md.chunk_key_encoding.separator != "/"
            ):
                return None
            sc = md.codecs[0]
            grid = tuple(int(s) for s in md.chunk_grid.chunk_shape)
            inner = sc.codecs
            if (
                tuple(sc.chunk_shape) != (1, *shape[1:])
                or grid[1:] != shape[1:]
                or sc.index_location != ShardingCodecIndexLocation.end
                or len(inner) not in (2, 3)
                or not isinstance(inner[0], BytesCodec)
                or (inner[0].endian is not None and inner[0].endian.value != "little")
                or not isinstance(inner[1], BloscCodec)
                or (len(inner) == 3 and not isinstance(inner[2], Crc32cCodec))
                or len(sc.index_codecs) != 2
                or not isinstance(sc.index_codecs[0], BytesCodec)
                or not isinstance(sc.index_codecs[1], Crc32cCodec)
            ):
                return None
            path = Path(arr.store.root) / arr.path if arr.path else Path(arr.store.root)
            if not (path / "zarr.json").is_file():
                return None
            return cls(arr, path, grid[0], checksum=len(inner) == 3)
        except Exception:  # noqa: BLE001 - unknown zarr version/layout: use zarr itself
            return None

    def _shard_index(self, i: int, fh: Any) -> np.ndarray | None:
        st = os.fstat(fh.fileno())  # a replaced shard file gets its index read again
        key = (i, st.st_ino, st.st_size, st.st_mtime_ns)
        idx = self._index.get(key)
        if idx is None:
            import google_crc32c

            nbytes = 16 * self.shard + 4
            fh.seek(-nbytes, os.SEEK_END)
            raw = fh.read(nbytes)
            if len(raw) != nbytes or google_crc32c.value(raw[:-4]) != int.from_bytes(
                raw[-4:], "little"
            ):
                return None
            idx = np.frombuffer(raw[:-4], dtype="<u8").reshape(self.shard, 2)
            self._index = {k: v for k, v in self._index.items() if k[0] != i}
            self._index[key] = idx
        return idx

    def _read_fast(self, t: int, out: np.ndarray | None = None) -> np.ndarray | None:
        import numcodecs.blosc

        i, j = divmod(t, self.shard)
        if out is None:
            out = np.empty(self.chunk_shape, dtype=self.dtype)
        try:
            key = self.arr.metadata.encode_chunk_key((i, *self._rest))  # "c/i/0/0/..."
            with open(self.path / key, "rb") as fh:
                idx = self._shard_index(i, fh)
                if idx is None:
                    return None
                off, nbytes = (int(v) for v in idx[j])
                if off == _EMPTY and nbytes == _EMPTY:  # chunk of fill values, not written
                    out[...] = self.fill
                    return out
                fh.seek(off)
                blob = fh.read(nbytes)
            if self.checksum:
                import google_crc32c

                if len(blob) < 4 or google_crc32c.value(blob[:-4]) != int.from_bytes(
                    blob[-4:], "little"
                ):
                    return None  # zarr's own read raises the checksum error
                blob, nbytes = blob[:-4], nbytes - 4
            # Blosc header: bytes 4..8 hold the decompressed size (little-endian uint32)
            if len(blob) != nbytes or int.from_bytes(blob[4:8], "little") != out.nbytes:
                return None
            numcodecs.blosc.decompress(blob, out)
            return out
        except FileNotFoundError as exc:
            if not self.checksum:  # format 1: zarr wrote no shard of fill values only
                out[...] = self.fill
                return out
            raise DataError(f"{self.path}: shard file of index {t} is missing "
                            "(every shard is written: the store is damaged)") from exc
        except Exception:  # noqa: BLE001 - corrupt shard: let zarr report it
            return None

    def read(self, t: int) -> np.ndarray:
        """``arr[t]`` as a new numpy array (``t`` in ``0..shape[0]-1``)."""
        if not 0 <= t < self.arr.shape[0]:
            raise IndexError(f"{self.path}: index {t} out of range 0..{self.arr.shape[0] - 1}")
        out = self._read_fast(t)
        return np.asarray(self.arr[t]) if out is None else out

    def read_all(self) -> np.ndarray:
        """The whole array ``arr[...]``, chunk by chunk into one new array."""
        out = np.empty((int(self.arr.shape[0]), *self.chunk_shape), dtype=self.dtype)
        for t in range(out.shape[0]):
            if self._read_fast(t, out[t]) is None:
                return np.asarray(self.arr[...])
        return out


def shard_reader(path: str | os.PathLike[str]) -> ShardReader | None:
    """:class:`ShardReader` of the zarr array at ``path`` (None if unreadable or of
    another layout)."""
    try:
        arr = zarr.open_array(str(path), mode="r", zarr_format=3)
    except Exception:  # noqa: BLE001 - the regular reader reports missing/corrupt arrays
        return None
    return ShardReader.create(arr)


# --------------------------------------------------------------------------- superpixels
SUPERPIXEL_ARRAYS = ("labels", "frame_offsets")
REQUIRED_ARRAYS = {  # per store kind (filled in below)
    "superpixels": SUPERPIXEL_ARRAYS,
}


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
            shards=(self.shard, h, w), compressors=_compressor(), fill_value=0,
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


# --------------------------------------------------------------------------- features
FEATURE_ARRAYS = ("node_features", "descriptors", "pixel_count", "frame_offsets")


def write_features(
    store: str | os.PathLike[str],
    seq: str,
    node_features: np.ndarray,
    descriptors: np.ndarray,
    pixel_count: np.ndarray,
    frame_offsets: np.ndarray,
    attrs: dict[str, Any],
    dtype: str = "float16",
) -> None:
    """Write the features group of ``seq`` (attrs should hold ``feature_names``,
    ``descriptor_names``, ``fingerprint``, ...)."""
    root = ensure_store(store, "features")
    n = int(frame_offsets[-1])
    for name, a in (("node_features", node_features), ("descriptors", descriptors),
                    ("pixel_count", pixel_count)):  # fmt: skip
        if a.shape[0] != n:
            raise DataError(f"{root}/{seq}: {name} has {a.shape[0]} rows, expected {n} nodes")
    with group_writer(root, seq, {**attrs, "n_nodes": n, "dtype": dtype},
                      FEATURE_ARRAYS) as grp:  # fmt: skip
        write_rows(grp, "node_features", node_features, dtype)
        write_rows(grp, "descriptors", descriptors, dtype)
        write_rows(grp, "pixel_count", pixel_count, np.int32)
        write_rows(grp, "frame_offsets", frame_offsets, np.int64)


def read_features(store: str | os.PathLike[str], seq: str) -> dict[str, Any]:
    """The features group of ``seq``: arrays (float32 / int64) plus ``attrs``."""
    grp = open_video_group(store, seq, "features")
    where = f"{store}/{seq}"
    out: dict[str, Any] = {"attrs": dict(grp.attrs)}
    for name in FEATURE_ARRAYS:
        a = read_array(grp, name, where)
        out[name] = a.astype(np.float32 if a.dtype.kind == "f" else np.int64)
    return out


# --------------------------------------------------------------------------- graphs
GRAPH_ARRAYS = ("edge_index", "edge_type", "edge_weight", "edge_features", "type_offsets")
REQUIRED_ARRAYS.update(features=FEATURE_ARRAYS, graphs=GRAPH_ARRAYS)


def write_graph(
    store: str | os.PathLike[str],
    seq: str,
    edge_index: np.ndarray,
    edge_type: np.ndarray,
    edge_weight: np.ndarray,
    edge_features: np.ndarray,
    attrs: dict[str, Any],
    dtype: str = "float16",
) -> None:
    """Write the graph group of ``seq``; edges must be sorted by type (0, 1, 2)."""
    root = ensure_store(store, "graphs", superpixels_store="superpixels.zarr",
                        features_store="features.zarr")  # fmt: skip
    et = np.asarray(edge_type, dtype=np.int8)
    if et.size and np.any(np.diff(et) < 0):
        raise ValueError("edges must be sorted by edge type")
    type_offsets = np.searchsorted(et, np.arange(4), side="left").astype(np.int64)
    with group_writer(root, seq, {**attrs, "n_edges": int(et.size), "dtype": dtype},
                      GRAPH_ARRAYS) as grp:  # fmt: skip
        write_rows(grp, "edge_index", np.asarray(edge_index).T, np.int32)  # stored (E, 2)
        write_rows(grp, "edge_type", et)
        write_rows(grp, "edge_weight", edge_weight, dtype)
        write_rows(grp, "edge_features", edge_features, dtype)
        write_rows(grp, "type_offsets", type_offsets)


def open_graph(
    store_path: str | os.PathLike[str],
    seq: str,
    superpixels_store: str | os.PathLike[str] | None = None,
    features_store: str | os.PathLike[str] | None = None,
    check_fingerprints: bool = True,
) -> VideoGraph:
    """Load the graph of video ``seq``.

    store_path: the graphs store (``data/graphs.zarr``). The superpixels and features
    stores default to the paths in its root attrs, relative to its parent folder
    (``superpixels.zarr`` / ``features.zarr`` siblings). Edges, node features and
    descriptors are read eagerly (float32 / int64); label frames lazily. With
    ``check_fingerprints`` a graph built from other superpixels/features than the ones
    present raises DataError (stale cache).
    """
    gpath = Path(store_path)
    grp = open_video_group(gpath, seq, "graphs")
    where = f"{gpath}/{seq}"
    root_attrs = dict(zarr.open_group(str(gpath), mode="r", zarr_format=3).attrs)
    sp_path = Path(superpixels_store) if superpixels_store else (
        gpath.parent / root_attrs.get("superpixels_store", "superpixels.zarr"))  # fmt: skip
    ft_path = Path(features_store) if features_store else (
        gpath.parent / root_attrs.get("features_store", "features.zarr"))  # fmt: skip
    attrs = dict(grp.attrs)
    spv = SuperpixelVideo(sp_path, seq)
    feats = read_features(ft_path, seq)
    if check_fingerprints:
        for key, have in (("superpixels_fingerprint", spv.fingerprint),
                          ("features_fingerprint", feats["attrs"].get("fingerprint"))):  # fmt: skip
            if attrs.get(key) != have:
                raise DataError(
                    f"{where}: built from {key.split('_')[0]} {attrs.get(key)!r} but the "
                    f"store has {have!r}; rerun the 'graphs' stage"
                )
    if not np.array_equal(feats["frame_offsets"], spv.offsets):
        raise DataError(f"{ft_path}/{seq}: frame_offsets differ from {sp_path}/{seq}")
    edge_index = read_array(grp, "edge_index", where).astype(np.int64).T.copy()
    n = int(spv.offsets[-1])
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= n):
        raise DataError(f"{where}: edge_index refers to nodes outside 0..{n - 1}")
    return VideoGraph(
        seq=seq,
        height=spv.height,
        width=spv.width,
        frame_offsets=spv.offsets,
        node_features=feats["node_features"],
        node_feature_names=tuple(feats["attrs"].get("feature_names", ())),
        descriptors=feats["descriptors"],
        descriptor_names=tuple(feats["attrs"].get("descriptor_names", ())),
        node_pixel_count=feats["pixel_count"],
        edge_index=edge_index,
        edge_type=read_array(grp, "edge_type", where).astype(np.int8),
        edge_weight=read_array(grp, "edge_weight", where).astype(np.float32),
        edge_features=read_array(grp, "edge_features", where).astype(np.float32),
        edge_feature_names=tuple(attrs.get("edge_feature_names", ())),
        local_source=spv.local,
        local_all_source=spv.local_all,
        attrs=attrs,
    )


# --------------------------------------------------------------------------- stage driver
def dataset_sequences(
    root: str | os.PathLike[str], splits: Iterable[str] = ("train", "val")
) -> list[str]:
    """Sequences listed in the given splits of a DAVIS-layout dataset (order kept, no
    duplicates)."""
    from gnnannot.data import davis

    seen: dict[str, None] = {}
    for split in splits:
        for name in davis.read_split(root, split):
            seen.setdefault(name, None)
    return list(seen)


def flow_fingerprint(flow_store: str | os.PathLike[str] | None, seq: str) -> str | None:
    """Fingerprint of the flow group of ``seq`` (its attrs), None without a flow store."""
    if flow_store is None:
        return None
    from gnnannot.io.flow_store import open_flow

    return fingerprint(open_flow(flow_store, seq).attrs)


def map_videos(
    fn: Any,
    jobs: list[tuple[Any, ...]],
    workers: int,
    description: str,
    quiet: bool = False,
    sizes: list[int] | None = None,
    labels: list[str] | None = None,
    executor: Any = None,
) -> list[Any]:
    """Run ``fn(*job)`` for every job (one video each) on ``executor`` (default: the local
    process executor :class:`gnnannot.pipeline.executor.ProcessExecutor`, serial when
    ``workers`` <= 1); results in job order."""
    from gnnannot.pipeline.executor import ProcessExecutor

    return (executor or ProcessExecutor(workers)).run(
        fn, jobs, description=description, quiet=quiet, sizes=sizes, labels=labels
    )


class FrameFlows:
    """Per-frame view of a video's flow store group (or of in-memory arrays).

    For frame t of T: ``fwd(t)`` flow t -> t+1 on frame t, ``bwd(t)`` flow t -> t-1 on
    frame t, ``occ_next(t)`` pixels of t no backward vector lands on (vanish in t+1),
    ``occ_prev(t)`` pixels of t no forward vector from t-1 lands on (appear in t); None
    where the neighbouring frame does not exist or no flow is given.
    Arrays: forward/backward (T-1, H, W, 2), occ_forward/occ_backward (T-1, H, W), in the
    flow store's convention (``backward[t]`` and ``occ_forward[t]`` live on frame t+1).
    """

    def __init__(self, source: Any, n_frames: int) -> None:
        self.src = source
        self.n_frames = n_frames
        self._readers: dict[str, ShardReader | None] = {}
        if source is not None:
            n_pairs = source.n_pairs if hasattr(source, "n_pairs") else len(source["forward"])
            if n_pairs != n_frames - 1:
                raise DataError(
                    f"flow has {n_pairs} frame pairs, the video has {n_frames} frames "
                    f"(expected {n_frames - 1})"
                )

    def _get(self, key: str, i: int) -> np.ndarray | None:
        if self.src is None or not 0 <= i < self.n_frames - 1:
            return None
        if isinstance(self.src, dict):
            arr = self.src.get(key)
            return None if arr is None else np.asarray(arr[i])
        reader = self._reader(key)
        if reader is not None:
            out = reader._read_fast(i)
            if out is not None:  # same conversions as FlowVideo.forward / occ_forward ...
                if key in ("forward", "backward"):
                    return out.astype(np.float32, copy=False)
                return out.astype(bool, copy=False)
        return getattr(self.src, key)(i)

    def _reader(self, key: str) -> ShardReader | None:
        """Fast chunk reader of flow array ``key`` when the source is a flow store group."""
        if key not in self._readers:
            from gnnannot.io.flow_store import FlowVideo

            reader = None
            if isinstance(self.src, FlowVideo):
                reader = shard_reader(Path(self.src.store) / self.src.seq / key)
                if reader is not None and reader.arr.shape[0] != self.n_frames - 1:
                    reader = None
            self._readers[key] = reader
        return self._readers[key]

    def fwd(self, t: int) -> np.ndarray | None:
        return self._get("forward", t)

    def bwd(self, t: int) -> np.ndarray | None:
        return self._get("backward", t - 1)

    def occ_next(self, t: int) -> np.ndarray | None:
        return self._get("occ_backward", t)

    def occ_prev(self, t: int) -> np.ndarray | None:
        return self._get("occ_forward", t - 1)

    def pair_forward(self, t: int) -> np.ndarray | None:
        """Flow t -> t+1 on frame t (pair t)."""
        return self._get("forward", t)

    def pair_backward(self, t: int) -> np.ndarray | None:
        """Flow t+1 -> t on frame t+1 (pair t)."""
        return self._get("backward", t)
