"""What every stage shares: reading params.yaml with clear errors, the --quiet flag."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gnnannot.errors import ConfigError, GnnAnnotError
from gnnannot.progress import console

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")
_MISSING = object()


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml as a dict; ConfigError if missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found (run from the repository root)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of stage sections")
    return data


def param(
    params: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = _MISSING
) -> Any:
    """``params["a"]["b"]`` for ``key="a.b"``, checked to be of ``kind``.

    Raises ConfigError naming the dotted key and the expected vs found type.
    """
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not _MISSING:
                return default
            raise ConfigError(f"{PARAMS_FILE}: missing key {key!r}")
        node = node[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(node, int) and not isinstance(node, bool):
        node = float(node)
    if not isinstance(node, kinds) or (isinstance(node, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(
            f"{PARAMS_FILE}: key {key!r} must be {names}, found {node!r} "
            f"({type(node).__name__})"
        )
    return node


def choice(params: dict[str, Any], key: str, options: tuple[str, ...]) -> str:
    """A string parameter restricted to ``options``."""
    value = param(params, key, str)
    if value not in options:
        raise ConfigError(f"{PARAMS_FILE}: key {key!r} must be one of {options}, found {value!r}")
    return value


def stage_executor(params: dict[str, Any], section: str) -> Any:
    """The executor of ``<section>.executor`` (``{kind: serial | process | dask, workers,
    address, ...}``, :func:`gnnannot.pipeline.executor.make_executor`), or None when the
    section has none (the stage's own default: a process pool of ``<section>.workers``)."""
    spec = param(params, f"{section}.executor", dict, None)
    if spec is None:
        return None
    from gnnannot.pipeline.executor import make_executor

    spec = dict(spec)
    kind = spec.pop("kind", "process")
    workers = spec.pop("workers", param(params, f"{section}.workers", int, 1))
    try:
        return make_executor(str(kind), int(workers), **spec)
    except TypeError as exc:
        raise ConfigError(f"{PARAMS_FILE}: bad key in {section}.executor ({exc})") from exc


def stage_main(description: str, body: Callable[[dict[str, Any], bool], None]) -> None:
    """Parse ``--quiet`` / ``--params``, run ``body(params, quiet)``; report gnnannot errors
    as one red line and exit 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--params", default=str(PARAMS_FILE), help="parameter file")
    args = parser.parse_args()
    try:
        body(load_params(args.params), args.quiet)
    except GnnAnnotError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
