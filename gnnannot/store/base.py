"""The zarr v3 base every store of the pipeline shares: one group per video.

* Store level: :func:`ensure_store` (root group, ``schema`` attrs), :func:`list_videos`,
  :func:`group_attrs`, :func:`remove_video`, :func:`prune`.
* Writes: :func:`group_writer` builds a video group in a temporary sibling directory
  (``.tmp-<seq>-...``), sets its ``complete`` attr last and :func:`install_group` renames it
  into place (replacing an older group), so a killed run never leaves a group that looks
  complete, and files are never modified in place (safe with DVC's hardlink/symlink cache
  links). :func:`write_rows` writes a row-chunked array.
* Reads: :func:`open_video_group` / :func:`read_array` raise
  :class:`gnnannot.errors.DataError` naming store, group and array for a missing,
  incomplete or corrupt group; :class:`ShardReader` decodes a chunk of a sharded array
  straight from its shard file (zarr's own path costs about as much again as the
  decompression) and falls back to zarr for any other layout or a damaged file, so the
  values are always those zarr returns.
* Fingerprints: :func:`fingerprint` (of parameters) and :func:`files_digest` (of input
  files) decide whether a stored group is up to date.

The stores built on it: :mod:`gnnannot.store.flow`, :mod:`gnnannot.store.superpixels`,
:mod:`gnnannot.store.features`, :mod:`gnnannot.store.graphs` (schema: ``SCHEMA.md``).
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
from gnnannot.store import guard
from gnnannot.store.guard import OLD_PREFIX, TMP_PREFIX

FORMAT_VERSION = 2  # 2: CRC32C on every chunk, every chunk written, "arrays" attr
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
def ensure_store(store: str | os.PathLike[str], kind: str | None, **attrs: Any) -> Path:
    """Create the root group of a ``kind`` store if missing (attrs ``schema``,
    ``format_version`` and ``attrs``; none when ``kind`` is None, as for the flow store);
    return its path."""
    path = Path(store)
    if kind is None:
        if not (path / "zarr.json").is_file():
            path.mkdir(parents=True, exist_ok=True)
            zarr.open_group(str(path), mode="a", zarr_format=3)
        return path
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
    install_group(root, tmp, seq)


def install_group(root: Path, tmp: Path, seq: str) -> None:
    """Rename the finished temporary group ``tmp`` to ``root/seq``; an older group there
    is first renamed aside (``.old-...``) and then deleted."""
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
