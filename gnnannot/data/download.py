"""Download and atomically extract the official DAVIS-2017 data.

* :func:`download_file` streams a URL into ``<dest>.part`` (resuming an interrupted
  download with an HTTP ``Range`` request, retrying broken connections), verifies its
  SHA-256 and only then renames it to ``dest``.
* :func:`extract_zip_atomic` extracts a zip into a temporary sibling folder and renames it
  into place on success (zip-slip and corrupt archives raise :class:`DataError`).
* :func:`fetch_davis2017` downloads the trainval-480p and scribbles archives into a cache
  folder and assembles a DAVIS-layout folder (see :mod:`gnnannot.data.davis`) atomically:
  either the complete folder appears or nothing does.

Only the standard library is used for HTTP (``urllib.request``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from gnnannot.atomic import atomic_dir
from gnnannot.errors import DataError, DownloadError
from gnnannot.progress import log, make_progress

# Official DAVIS-2017 archives (the same ones the davisinteractive package downloads).
TRAINVAL_URL = "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip"
TRAINVAL_SHA256 = "e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492"
SCRIBBLES_URL = (
    "https://data.vision.ee.ethz.ch/csergi/share/DAVIS-Interactive/"
    "DAVIS-2017-scribbles-trainval.zip"
)
SCRIBBLES_SHA256 = "6c6811c67ef757091212a98b68b841305f92b57f6cd2938e0fa94ae8591c3226"
# File names of the archives inside the cache folder (fixed, whatever mirror URL is used).
TRAINVAL_ZIP_NAME = "DAVIS-2017-trainval-480p.zip"
SCRIBBLES_ZIP_NAME = "DAVIS-2017-scribbles-trainval.zip"

# Sub-paths a complete DAVIS-2017 folder must contain.
DAVIS_REQUIRED = (
    "JPEGImages/480p",
    "Annotations/480p",
    "ImageSets/2017/train.txt",
    "ImageSets/2017/val.txt",
    "Scribbles",
)

USER_AGENT = "gnnannot-downloader/0.1 (+urllib)"
_MIB = float(1 << 20)
# HTTP statuses worth retrying (transient server-side trouble).
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


class _ConnectionBroken(Exception):
    """The server closed the connection before sending everything it announced."""


# --------------------------------------------------------------------------- hashing
def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- download
def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _stream_to_part(
    url: str,
    part: Path,
    *,
    chunk_size: int,
    timeout: float,
    retries: int,
    backoff: float,
    quiet: bool,
) -> None:
    """Fill ``part`` with the whole body of ``url``, resuming from its current size.

    Retries up to ``retries`` times after a broken connection or a transient HTTP error,
    each time resuming with ``Range: bytes=<size of part>-``. Returns once the server has
    sent everything (a 416 answer to a resume request counts as "already complete")."""
    failures = 0
    desc = f"download {PurePosixPath(urllib.parse.urlparse(url).path).name or url}"
    with make_progress(quiet) as progress:
        task = progress.add_task(f"{desc} (MiB)", total=None)
        while True:
            offset = part.stat().st_size if part.exists() else 0
            headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            if offset > 0:
                headers["Range"] = f"bytes={offset}-"
            request = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as resp:
                    length = _int_header(resp.headers.get("Content-Length"))
                    if resp.status == 206 and offset > 0:
                        match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                        if match is None or int(match.group(1)) != offset:
                            # A range we did not ask for: start again from scratch.
                            part.unlink()
                            raise _ConnectionBroken(
                                f"server answered Range bytes={offset}- with Content-Range "
                                f"{resp.headers.get('Content-Range')!r}; restarting"
                            )
                        mode = "ab"
                    elif resp.status == 200:
                        offset, mode = 0, "wb"  # no (or ignored) Range: full body
                    else:
                        raise DownloadError(f"{url}: unexpected HTTP status {resp.status}")
                    end = offset + length if length is not None else None
                    received = offset
                    progress.update(
                        task,
                        completed=received / _MIB,
                        total=end / _MIB if end is not None else None,
                    )
                    with open(part, mode) as f:
                        while chunk := resp.read(chunk_size):
                            f.write(chunk)
                            received += len(chunk)
                            progress.update(task, completed=received / _MIB)
                    if end is not None and received < end:
                        raise _ConnectionBroken(
                            f"connection closed after {received} of {end} bytes"
                        )
                return
            except urllib.error.HTTPError as err:
                err.close()
                if err.code == 416 and offset > 0:
                    match = _UNSATISFIED_RANGE.match(err.headers.get("Content-Range", "") or "")
                    if match is None or int(match.group(1)) == offset:
                        return  # .part already holds the whole file
                    part.unlink()  # .part is longer than the file: start again
                    error: Exception = err
                elif err.code in _RETRYABLE_STATUS:
                    error = err
                else:
                    raise DownloadError(f"{url}: HTTP error {err.code} {err.reason}") from err
            except (_ConnectionBroken, urllib.error.URLError, http.client.HTTPException,
                    OSError) as err:
                error = err
            failures += 1
            if failures > retries:
                raise DownloadError(
                    f"{url}: download failed after {failures} attempts: {error}"
                ) from error
            log(f"{url}: {error}; retrying ({failures}/{retries})", quiet=quiet)
            if backoff > 0:
                time.sleep(min(backoff * 2 ** (failures - 1), 30.0))


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str,
    *,
    chunk_size: int = 1 << 20,
    quiet: bool = False,
    timeout: float = 60.0,
    retries: int = 5,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its SHA-256 (hex, case-insensitive).

    Skips the download when ``dest`` already has the expected hash. Data is streamed to
    ``<dest>.part``; an existing ``.part`` (an interrupted earlier run) is resumed with an
    HTTP ``Range`` request, and a connection that breaks is retried up to ``retries``
    times (waiting ``backoff * 2**k`` s), resuming each time. Servers that ignore
    ``Range`` (answer 200) are handled by restarting from byte 0. ``dest`` is only
    created (by rename) once the hash is verified; on a mismatch the ``.part`` is deleted
    and :class:`DownloadError` names the URL and the expected and found hashes.
    """
    dest = Path(dest)
    expected = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise DownloadError(f"{url}: expected SHA-256 {sha256!r} is not a 64-digit hex string")
    if dest.is_file():
        found = sha256_file(dest)
        if found == expected:
            log(f"{dest}: already downloaded (SHA-256 ok)", quiet=quiet)
            return dest
        log(f"{dest}: SHA-256 {found} != expected {expected}; downloading again", quiet=quiet)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    stale = part.exists()  # left by an earlier run; may belong to another file version
    while True:
        _stream_to_part(
            url, part, chunk_size=chunk_size, timeout=timeout, retries=retries,
            backoff=backoff, quiet=quiet,
        )
        found = sha256_file(part)
        if found == expected:
            break
        part.unlink()
        if stale:
            # The resumed bytes from an earlier run may be from a different file: retry
            # once from scratch before declaring the download bad.
            log(f"{url}: resumed download has the wrong SHA-256; starting over", quiet=quiet)
            stale = False
            continue
        raise DownloadError(
            f"{url}: SHA-256 mismatch: expected {expected}, found {found} "
            f"(the partial file was deleted; check the URL/mirror or the expected hash)"
        )
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------- extraction
def _safe_parts(zip_path: Path, name: str) -> tuple[str, ...]:
    """Path components of member ``name``; raises DataError if it could escape the
    extraction folder (absolute path, drive letter, ``..``)."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise DataError(
            f"{zip_path}: unsafe member {name!r}: absolute path (would be written outside "
            f"the extraction folder); refusing to extract"
        )
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise DataError(
            f"{zip_path}: unsafe member {name!r}: contains '..' (would be written outside "
            f"the extraction folder); refusing to extract"
        )
    return parts


def _plan_members(
    zf: zipfile.ZipFile, zip_path: Path, strip_top: str | bool | None
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """(member, relative target parts) for every member, checked before anything is
    written. Directory entries map to their (possibly empty) parts; ``__MACOSX`` is
    skipped."""
    plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    for info in zf.infolist():
        parts = _safe_parts(zip_path, info.filename)
        if not parts or parts[0] == "__MACOSX":
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(f"{zip_path}: member {info.filename!r} is a symbolic link; "
                            f"refusing to extract")
        plan.append((info, parts))
    if strip_top is True:
        tops = {parts[0] for _, parts in plan}
        if len(tops) != 1 or any(len(p) == 1 and not i.is_dir() for i, p in plan):
            raise DataError(
                f"{zip_path}: expected a single top-level folder, found {sorted(tops)[:5]}"
            )
        strip_top = tops.pop()
    if isinstance(strip_top, str) and strip_top:
        top = tuple(p for p in strip_top.replace("\\", "/").split("/") if p)
        stripped = []
        for info, parts in plan:
            if parts[: len(top)] != top:
                raise DataError(
                    f"{zip_path}: member {info.filename!r} is not under the expected "
                    f"top folder {strip_top!r}"
                )
            stripped.append((info, parts[len(top):]))
        plan = stripped
    return plan


def extract_zip_atomic(
    zip_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    strip_top: str | bool | None = None,
    quiet: bool = False,
) -> Path:
    """Extract ``zip_path`` into ``dest_dir`` atomically and return ``dest_dir``.

    Members are extracted into a temporary sibling folder that replaces ``dest_dir`` (and
    whatever it held) only once everything is extracted and CRC-checked. ``strip_top``
    removes a leading folder from every member: a folder name (``"DAVIS"``; every member
    must lie under it) or ``True`` (the archive's single top folder, whatever its name).
    Raises :class:`DataError` for a corrupt/unreadable archive or a member that would
    escape the folder (zip-slip); ``dest_dir`` is then left untouched and no temporary
    folder remains.
    """
    zip_path = Path(zip_path)
    dest_dir = Path(dest_dir)
    if not zip_path.is_file():
        raise DataError(f"{zip_path}: zip archive not found")
    current = "<central directory>"
    try:
        with zipfile.ZipFile(zip_path) as zf:
            plan = _plan_members(zf, zip_path, strip_top)
            total = sum(info.file_size for info, _ in plan)
            with atomic_dir(dest_dir) as tmp, make_progress(quiet) as progress:
                root = tmp.resolve()
                task = progress.add_task(f"extract {zip_path.name} (MiB)", total=total / _MIB)
                done = 0
                for info, parts in plan:
                    current = info.filename
                    if not parts:
                        continue
                    target = tmp.joinpath(*parts)
                    if not target.resolve().is_relative_to(root):  # belt and braces
                        raise DataError(
                            f"{zip_path}: unsafe member {info.filename!r} resolves outside "
                            f"the extraction folder; refusing to extract"
                        )
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    done += info.file_size
                    progress.update(task, completed=done / _MIB)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as err:
        # RuntimeError: encrypted member; NotImplementedError: unsupported compression.
        raise DataError(
            f"{zip_path}: corrupt or unreadable zip archive (at member {current!r}): {err}; "
            f"delete it and download it again"
        ) from err
    return dest_dir


# --------------------------------------------------------------------------- DAVIS-2017
def missing_davis_parts(root: str | os.PathLike[str]) -> list[str]:
    """Entries of :data:`DAVIS_REQUIRED` that ``root`` lacks (empty list = complete)."""
    root = Path(root)
    return [rel for rel in DAVIS_REQUIRED if not (root / rel).exists()]


def _find_dir(root: Path, predicate: Callable[[Path], bool], max_depth: int) -> Path | None:
    """Shallowest directory under ``root`` (inclusive, breadth-first, sorted) for which
    ``predicate(dir)`` holds."""
    level = [root]
    for _ in range(max_depth + 1):
        for d in level:
            if predicate(d):
                return d
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
        if not level:
            break
    return None


def _has_sequence_jsons(d: Path) -> bool:
    return any(c.is_dir() and any(c.glob("*.json")) for c in d.iterdir())


def _assemble(trainval_zip: Path, scribbles_zip: Path, out: Path, quiet: bool) -> None:
    """Extract both archives into the (empty, temporary) folder ``out`` in DAVIS layout."""
    staging = out / ".extract-trainval"
    extract_zip_atomic(trainval_zip, staging, quiet=quiet)
    src = _find_dir(staging, lambda d: (d / "JPEGImages").is_dir(), max_depth=3)
    if src is None:
        raise DataError(f"{trainval_zip}: no JPEGImages folder found in the archive")
    for child in sorted(src.iterdir()):
        if (out / child.name).exists():
            continue
        os.replace(child, out / child.name)
    shutil.rmtree(staging)

    staging = out / ".extract-scribbles"
    extract_zip_atomic(scribbles_zip, staging, quiet=quiet)
    scribbles = _find_dir(staging, lambda d: d.name == "Scribbles", max_depth=3)
    if scribbles is None:  # no Scribbles folder: the folder holding <seq>/*.json
        scribbles = _find_dir(staging, _has_sequence_jsons, max_depth=3)
    if scribbles is None:
        raise DataError(
            f"{scribbles_zip}: no Scribbles folder (or <seq>/*.json files) found in the archive"
        )
    if (out / "Scribbles").exists():
        shutil.rmtree(out / "Scribbles")
    os.replace(scribbles, out / "Scribbles")
    if staging.exists():  # absent when the archive root itself held the sequences
        shutil.rmtree(staging)

    missing = missing_davis_parts(out)
    if missing:
        raise DataError(
            f"{trainval_zip} + {scribbles_zip}: the extracted data lacks {missing}; "
            f"expected a DAVIS-2017 layout with {list(DAVIS_REQUIRED)}"
        )


def fetch_davis2017(
    dest_root: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str],
    trainval_url: str = TRAINVAL_URL,
    trainval_sha256: str = TRAINVAL_SHA256,
    scribbles_url: str = SCRIBBLES_URL,
    scribbles_sha256: str = SCRIBBLES_SHA256,
    force: bool = False,
    quiet: bool = False,
    timeout: float = 60.0,
    retries: int = 5,
    backoff: float = 1.0,
) -> Path:
    """Download DAVIS-2017 trainval (480p) + scribbles and assemble ``dest_root``.

    The two archives are downloaded (resumably, SHA-256-verified, see
    :func:`download_file`) into ``cache_dir`` and kept there, so a re-run does not
    download them again. ``dest_root`` is assembled in a temporary sibling folder and
    renamed into place only when complete::

        dest_root/JPEGImages/480p/<seq>/*.jpg   Annotations/480p/<seq>/*.png
        dest_root/ImageSets/2017/{train,val}.txt   Scribbles/<seq>/*.json

    If ``dest_root`` already is a complete DAVIS-2017 folder nothing is done (unless
    ``force``); a non-empty ``dest_root`` that is not one raises :class:`DataError`
    rather than being replaced (unless ``force``). URLs and hashes default to the
    official archives; override them for a mirror.
    """
    dest_root = Path(dest_root)
    cache_dir = Path(cache_dir)
    if dest_root.exists() and not force:
        if not dest_root.is_dir():
            raise DataError(f"{dest_root}: exists and is not a folder; pass force to replace it")
        missing = missing_davis_parts(dest_root)
        if not missing:
            log(f"{dest_root}: DAVIS-2017 already present", quiet=quiet)
            return dest_root
        if any(dest_root.iterdir()):
            raise DataError(
                f"{dest_root}: exists but is not a complete DAVIS-2017 folder (missing "
                f"{missing}); refusing to replace it; pass force to overwrite it"
            )
    kwargs = dict(quiet=quiet, timeout=timeout, retries=retries, backoff=backoff)
    trainval_zip = download_file(
        trainval_url, cache_dir / TRAINVAL_ZIP_NAME, trainval_sha256, **kwargs
    )
    scribbles_zip = download_file(
        scribbles_url, cache_dir / SCRIBBLES_ZIP_NAME, scribbles_sha256, **kwargs
    )
    with atomic_dir(dest_root) as tmp:
        _assemble(trainval_zip, scribbles_zip, tmp, quiet)
    log(f"{dest_root}: DAVIS-2017 ready", quiet=quiet)
    return dest_root
