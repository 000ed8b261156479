"""Write outputs atomically: to a temporary sibling path, renamed over the target only on
success, so a killed or failed step never leaves a half-written output that looks valid.
Temporaries carry their writer's pid; those of dead writers are removed by the next write
of the same target."""

from __future__ import annotations

import glob
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gnnannot.errors import GnnAnnotError


def _tmp_sibling(final: Path) -> Path:
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def temp_owner(name: str) -> int | None:
    """The pid in a temporary's name ``...-<pid>-<hex>`` (None if it has none)."""
    parts = name.rsplit("-", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def clean_dead_siblings(final: str | os.PathLike[str]) -> list[str]:
    """Delete temporaries ``.<name>.tmp-<pid>-<hex>`` of ``final`` left by dead processes
    (killed runs); return their names."""
    final = Path(final)
    removed = []
    if final.parent.is_dir():
        for p in sorted(final.parent.glob(f".{glob.escape(final.name)}.tmp-*")):
            pid = temp_owner(p.name)
            if pid is not None and not pid_alive(pid):
                _remove(p)
                removed.append(p.name)
    return removed


def _without_tmp(exc: BaseException, tmp: Path, final: Path) -> BaseException | None:
    """A copy of a gnnannot error whose message names ``final`` instead of the internal
    temporary path ``tmp`` (None when there is nothing to rewrite)."""
    msg = str(exc)
    if not isinstance(exc, GnnAnnotError) or str(tmp) not in msg:
        return None
    try:
        return type(exc)(msg.replace(str(tmp), str(final)))
    except Exception:  # noqa: BLE001 - an error type with another constructor
        return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_dir(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``final``; on normal exit replace
    ``final`` with it, on exception delete it and leave ``final`` untouched."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_dead_siblings(final)
    tmp = _tmp_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        clear = _without_tmp(exc, tmp, final)
        if clear is not None:
            raise clear from exc
        raise
    old = None
    if final.exists() or final.is_symlink():
        old = _tmp_sibling(final)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        _remove(old)


@contextmanager
def atomic_file(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path next to ``final``; rename it to ``final`` on success,
    delete it on exception."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_dead_siblings(final)
    tmp = _tmp_sibling(final)
    try:
        yield tmp
    except BaseException:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)
        raise
    if final.is_dir():
        shutil.rmtree(final)
    os.replace(tmp, final)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
