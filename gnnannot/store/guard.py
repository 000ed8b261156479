"""Safety of the zarr stores against concurrent, killed and damaged writers.

* One writer per store: :func:`store_lock` takes an exclusive ``flock`` on a lock file
  beside the store (``.<store name>.lock`` in its parent folder, outside DVC's out), holding
  the owner's pid; a second writer waits for the first (and says so).
* Temporaries (``.tmp-<seq>-<pid>-<hex>`` / ``.old-<seq>-<pid>-<hex>``) carry their
  writer's pid; :func:`clean_temporaries` deletes only those whose owner is dead.
* Integrity: every chunk is stored with a CRC32C checksum (:func:`compressors`) and every
  chunk is written (``write_empty_chunks``), so a flipped byte fails the checksum and a
  missing chunk file is an error (:func:`missing_chunks`), never silent fill values.
* :func:`check_group` (cheap: arrays and chunk files present) runs before a group is marked
  complete and in the stages' up-to-date test; :func:`verify_group` also decodes every
  chunk (``gnnannot verify``).
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import itertools
import math
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

from gnnannot.atomic import pid_alive as pid_alive
from gnnannot.atomic import temp_owner as temp_owner
from gnnannot.errors import DataError
from gnnannot.progress import log

TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
ARRAY_CONFIG = {"write_empty_chunks": True}  # every chunk stored: a missing one is damage

F = TypeVar("F", bound=Callable[..., Any])


def compressors() -> tuple[BloscCodec, Crc32cCodec]:
    """Codecs of every stored chunk: Blosc-zstd (byte shuffle), then a CRC32C checksum."""
    return (BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), Crc32cCodec())


# --------------------------------------------------------------------------- temporaries
def temp_name(prefix: str, seq: str) -> str:
    """``<prefix><seq>-<pid>-<hex>``: a writer's temporary name, owned by this process."""
    import uuid

    return f"{prefix}{seq}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def clean_temporaries(store: str | os.PathLike[str]) -> list[str]:
    """Delete ``.tmp-*`` / ``.old-*`` leftovers of dead writers in ``store``; return their
    names. Temporaries of live processes (another writer at work) are kept."""
    path = Path(store)
    removed = []
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if not (child.is_dir() and child.name.startswith((TMP_PREFIX, OLD_PREFIX))):
                continue
            pid = temp_owner(child.name)
            if pid is not None and pid_alive(pid):
                continue
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    return removed


# --------------------------------------------------------------------------- locking
def lock_path(store: str | os.PathLike[str]) -> Path:
    """The lock file of ``store``: ``.<name>.lock`` beside it."""
    p = Path(store).absolute()
    return p.parent / f".{p.name}.lock"


def _on_wait(store: Path, owner: str) -> None:
    """Called once when a writer has to wait for another (reports it)."""
    log(f"{store}: waiting for another writer ({owner or 'unknown pid'}) to finish", False)


@contextmanager
def store_lock(store: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive writer lock of ``store`` (waits while another process holds it);
    dead writers' temporaries are cleaned once it is held. The lock file is removed again
    when the store does not exist afterwards (a failed first run leaves nothing)."""
    lp = lock_path(store)
    lp.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not waited:
                waited = True
                _on_wait(Path(store), os.pread(fd, 64, 0).decode(errors="replace").strip())
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # the file may have been removed by its last holder: lock the current one
            same = os.stat(lp).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        clean_temporaries(store)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            if not Path(store).exists():
                lp.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def locked_store(*params: str) -> Callable[[F], F]:
    """Decorator: run the function holding :func:`store_lock` of the store paths passed as
    its arguments ``params`` (in that order; None values are skipped)."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            stores = [bound.arguments[p] for p in params if bound.arguments.get(p)]
            with _locks(stores):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


@contextmanager
def _locks(stores: list[Any]) -> Iterator[None]:
    if not stores:
        yield
        return
    with store_lock(stores[0]), _locks(stores[1:]):
        yield


# --------------------------------------------------------------------------- checks
def missing_chunks(arr: zarr.Array) -> list[str]:
    """Keys of the stored chunks (shards for a sharded array) of ``arr`` that have no file
    on disk (local stores only; every chunk is written, so any is damage)."""
    from zarr.storage import LocalStore

    if not isinstance(arr.store, LocalStore):
        return []
    md = arr.metadata
    shape = tuple(int(s) for s in arr.shape)
    grid = tuple(int(s) for s in md.chunk_grid.chunk_shape)
    if any(s == 0 for s in shape):
        return []
    base = Path(arr.store.root) / arr.path if arr.path else Path(arr.store.root)
    counts = [math.ceil(s / c) for s, c in zip(shape, grid, strict=True)]
    missing = []
    for coords in itertools.product(*(range(n) for n in counts)):
        key = md.encode_chunk_key(coords)
        if not (base / key).is_file():
            missing.append(key)
    return missing


def check_group(path: str | os.PathLike[str], required: tuple[str, ...] | list[str]) -> list[str]:
    """Problems of the zarr group at ``path`` found without decoding data: missing or
    unreadable arrays among ``required`` (and those its ``arrays`` attr lists), missing
    chunk files. Empty list: structurally sound."""
    path = Path(path)
    try:
        grp = zarr.open_group(str(path), mode="r", zarr_format=3)
        attrs = dict(grp.attrs)
    except Exception as exc:  # noqa: BLE001 - unreadable zarr.json
        return [f"group unreadable ({type(exc).__name__}: {exc})"]
    names = list(dict.fromkeys([*required, *attrs.get("arrays", [])]))
    problems = []
    for name in names:
        try:
            arr = grp[name]
        except Exception:  # noqa: BLE001
            problems.append(f"array {name!r} missing")
            continue
        if not isinstance(arr, zarr.Array):
            problems.append(f"{name!r} is not an array")
            continue
        gone = missing_chunks(arr)
        if gone:
            problems.append(f"array {name!r}: {len(gone)} chunk file(s) missing ({gone[0]}...)")
    return problems


def verify_group(path: str | os.PathLike[str], required: tuple[str, ...] | list[str]) -> list[str]:
    """:func:`check_group` plus decoding every chunk of every array (CRC32C checked):
    the problems found, empty when the group is intact."""
    problems = check_group(path, required)
    if problems:
        return problems
    grp = zarr.open_group(str(path), mode="r", zarr_format=3)
    for name in list(dict.fromkeys([*required, *dict(grp.attrs).get("arrays", [])])):
        arr = grp[name]
        assert isinstance(arr, zarr.Array)
        step = int(arr.metadata.chunk_grid.chunk_shape[0]) if arr.ndim else 1
        try:
            for start in range(0, max(int(arr.shape[0]) if arr.ndim else 1, 1), step):
                arr[start : start + step] if arr.ndim else arr[...]
        except Exception as exc:  # noqa: BLE001 - checksum mismatch, codec error, truncation
            problems.append(f"array {name!r}: chunk at {start} is corrupt "
                            f"({type(exc).__name__}: {exc})")  # fmt: skip
    return problems


def array_names(grp: zarr.Group) -> list[str]:
    """Names of the arrays directly inside ``grp``, sorted."""
    return sorted(name for name, _ in grp.arrays())


def require_sound(path: Path, required: tuple[str, ...] | list[str], where: str) -> None:
    """DataError naming ``where`` when :func:`check_group` finds problems."""
    problems = check_group(path, required)
    if problems:
        raise DataError(f"{where}: damaged group: {'; '.join(problems)}")
