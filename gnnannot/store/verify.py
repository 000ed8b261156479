"""Check every video group of a store (flow, superpixels, features or graphs) for damage:
incomplete or unreadable groups, missing arrays or chunk files, chunks that fail their
CRC32C checksum or do not decode; and list leftover temporaries. Used by
``gnnannot verify STORE``."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import zarr

from gnnannot.errors import DataError
from gnnannot.store import base, guard
from gnnannot.store import flow as flow_store
from gnnannot.store.features import FEATURE_ARRAYS
from gnnannot.store.graphs import GRAPH_ARRAYS
from gnnannot.store.superpixels import SUPERPIXEL_ARRAYS

#: The arrays every group of a store kind must hold (by the root's ``schema``).
REQUIRED_ARRAYS: dict[str, tuple[str, ...]] = {
    "superpixels": SUPERPIXEL_ARRAYS, "features": FEATURE_ARRAYS, "graphs": GRAPH_ARRAYS,
}

__all__ = ["StoreReport", "store_kind", "verify_store"]


@dataclass
class StoreReport:
    """Result of :func:`verify_store`: per group its problems (empty list = intact), the
    leftover temporaries, and the groups removed (``remove_damaged``)."""

    store: Path
    kind: str
    groups: dict[str, list[str]] = field(default_factory=dict)
    temporaries: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> list[str]:
        return [name for name, problems in self.groups.items() if problems]


def store_kind(store: str | os.PathLike[str]) -> str:
    """``flow``, ``superpixels``, ``features`` or ``graphs``: from the root's ``schema``
    attr (the flow store has none); DataError when ``store`` is no gnnannot store."""
    path = Path(store)
    if not (path / "zarr.json").is_file():
        raise DataError(f"{path}: not a zarr store (no zarr.json)")
    try:
        attrs = dict(zarr.open_group(str(path), mode="r", zarr_format=3).attrs)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: root group unreadable ({type(exc).__name__}: {exc})") from exc
    schema = attrs.get("schema")
    if schema is None:
        return "flow"
    kind = str(schema).removeprefix("gnnannot.")
    if kind not in REQUIRED_ARRAYS:
        raise DataError(f"{path}: unknown store schema {schema!r}")
    return kind


def _required(kind: str) -> tuple[str, ...]:
    return flow_store.ARRAYS if kind == "flow" else REQUIRED_ARRAYS[kind]


def _format_version(kind: str) -> int:
    return flow_store.FORMAT_VERSION if kind == "flow" else base.FORMAT_VERSION


def verify_store(store: str | os.PathLike[str], remove_damaged: bool = False) -> StoreReport:
    """Decode every chunk of every group of ``store``; with ``remove_damaged`` delete the
    damaged groups (the next stage run recomputes them). Takes the store's writer lock."""
    path = Path(store)
    kind = store_kind(path)
    report = StoreReport(path, kind)
    required = _required(kind)
    with guard.store_lock(path):
        for child in sorted(path.iterdir()):
            if not child.is_dir():
                continue
            if child.name.startswith("."):
                if child.name.startswith((guard.TMP_PREFIX, guard.OLD_PREFIX)):
                    report.temporaries.append(child.name)
                continue
            report.groups[child.name] = _verify_group(child, kind, required)
        if remove_damaged:
            for name in report.damaged:
                shutil.rmtree(path / name)
                report.removed.append(name)
    return report


def _verify_group(gdir: Path, kind: str, required: tuple[str, ...]) -> list[str]:
    try:
        attrs = dict(zarr.open_group(str(gdir), mode="r", zarr_format=3).attrs)
    except Exception as exc:  # noqa: BLE001
        return [f"group unreadable ({type(exc).__name__}: {exc})"]
    if attrs.get("complete") is not True:
        return [f"incomplete (complete attr is {attrs.get('complete')!r})"]
    if attrs.get("format_version") != _format_version(kind):
        return [f"format_version {attrs.get('format_version')!r}, expected "
                f"{_format_version(kind)} (rerun the stage)"]  # fmt: skip
    return guard.verify_group(gdir, required)
