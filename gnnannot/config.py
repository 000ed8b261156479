"""Stage configurations from their params sections, with every default in one place.

Each stage's configuration is a frozen dataclass whose field defaults are *the* defaults
(``params.yaml`` holds the same values: ``tests/test_params.py`` checks that they agree).
:func:`from_section` builds one from a whole params section: unknown keys, wrong types and
missing sections raise :class:`gnnannot.errors.ConfigError` naming the key, expected vs
found; nested dataclass fields take nested sections. The library never reads
``params.yaml`` itself: the stages (``stages/``) pass the section.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from gnnannot.errors import ConfigError

T = TypeVar("T")

__all__ = ["as_section", "from_section"]


def _kinds(hint: Any) -> tuple[type, ...] | None:
    """The runtime types a field annotation allows (None: not checked)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        out: list[type] = []
        for arg in typing.get_args(hint):
            k = _kinds(arg)
            if k is None:
                return None
            out.extend(k)
        return tuple(out)
    if hint is type(None):
        return (type(None),)
    if origin is not None:
        hint = origin
    if hint in (int, float, str, bool, list, dict, tuple):
        return (hint,)
    return None


def _check(value: Any, hint: Any, where: str) -> Any:
    kinds = _kinds(hint)
    if kinds is None:
        return value
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tuple in kinds and isinstance(value, list):
        return tuple(value)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where} must be {names}, found {value!r} ({type(value).__name__})")
    return value


def from_section(cls: type[T], section: dict[str, Any] | None, where: str) -> T:
    """``cls`` (a dataclass) built from the params ``section`` (keys = field names; absent
    keys keep the field default). ``where`` names the section in errors
    (e.g. ``"params.yaml: flow"``)."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, found {type(section).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in section.items():
        hint = hints[name]
        key = f"{where}.{name}"
        if dataclasses.is_dataclass(hint):
            builder = getattr(hint, "from_section", None)
            kwargs[name] = (builder(value, key) if builder is not None
                            else from_section(hint, value, key))  # fmt: skip
        else:
            kwargs[name] = _check(value, hint, key)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def as_section(config: Any) -> dict[str, Any]:
    """The params section a config dataclass stands for (tuples as lists, nested
    dataclasses as mappings): ``from_section(type(c), as_section(c), ...) == c``."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            to = getattr(v, "as_section", None)
            return to() if to is not None else {k: plain(x) for k, x in vars(v).items()}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
