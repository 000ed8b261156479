"""DVC's content hash of a directory output (the ``md5: ....dir`` entries of dvc.lock).

DVC 3 (``hash: md5``) hashes each file with plain MD5, lists ``{"md5", "relpath"}`` for
every file (POSIX relative paths, sorted by path), serialises the list with
``json.dumps(..., sort_keys=True)`` and takes the MD5 of that text plus the suffix
``.dir``. This module reproduces it without DVC, so a test can regenerate a stage's
output anywhere and compare it with the committed ``dvc.lock``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gnnannot.errors import DataError

__all__ = ["DirHash", "dir_md5", "file_md5", "lock_entry"]

_CHUNK = 1 << 20


def file_md5(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file's bytes."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class DirHash:
    """``md5`` (with the ``.dir`` suffix), total ``size`` in bytes and ``nfiles``, as in
    dvc.lock."""

    md5: str
    size: int
    nfiles: int


def dir_md5(root: str | os.PathLike[str]) -> DirHash:
    """DVC's hash of the directory ``root`` (every regular file below it)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    entries: list[dict[str, str]] = []
    size = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            entries.append({"md5": file_md5(p), "relpath": rel})
            size += p.stat().st_size
    entries.sort(key=lambda e: e["relpath"])
    text = json.dumps(entries, sort_keys=True).encode("utf-8")
    return DirHash(hashlib.md5(text).hexdigest() + ".dir", size, len(entries))


def lock_entry(lock_path: str | os.PathLike[str], stage: str) -> dict[str, Any]:
    """The ``stages.<stage>`` entry of a dvc.lock file (deps, params, outs)."""
    lock_path = Path(lock_path)
    if not lock_path.is_file():
        raise DataError(f"{lock_path}: not found")
    data = yaml.safe_load(lock_path.read_text())
    try:
        return data["stages"][stage]
    except (KeyError, TypeError) as exc:
        raise DataError(f"{lock_path}: no entry stages.{stage}") from exc
