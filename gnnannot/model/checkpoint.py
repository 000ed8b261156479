"""Model checkpoints: one ``torch.save`` file, written atomically, holding everything
needed to rebuild the model without the training code or params.yaml.

Layout (a dict, loaded with ``torch.load(weights_only=True)``)::

    {"format": "gnnannot-checkpoint", "version": 1,
     "model_params": {...},      # GNNAnnot hyper-parameters incl. feature names
     "state_dict": {...},        # weights + buffers (incl. feature normalisation stats)
     "extra": {...}}             # caller data: epoch, metrics, feature stats, params ...

``extra`` may hold JSON-like values (dict/list/str/int/float/bool/None), torch tensors and
numpy arrays/scalars (arrays are stored as tensors, scalars as Python numbers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnannot.atomic import atomic_file
from gnnannot.errors import ConfigError, DataError
from gnnannot.model.net import DEFAULT_PARAMS, GNNAnnot

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

CHECKPOINT_FORMAT = "gnnannot-checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED = ("format", "version", "model_params", "state_dict")


def _plain(obj: Any, where: str) -> Any:
    """Convert ``obj`` to types ``torch.load(weights_only=True)`` accepts."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str | int):
                raise ConfigError(f"checkpoint {where}: keys must be str or int, found {k!r}")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(obj, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise ConfigError(f"checkpoint {where}: cannot store a {type(obj).__name__}; "
                      "expected JSON-like values, tensors or numpy arrays")


def save_checkpoint(
    path: str | os.PathLike[str],
    model: GNNAnnot,
    model_params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` to ``path`` atomically.

    Args:
        path: output file (parent folders are created).
        model: the network.
        model_params: its hyper-parameters; default ``model.params``. Must rebuild a
            model with the same state-dict layout (checked here, so a wrong dict fails at
            save time rather than at load time).
        extra: caller data stored as-is (see module docstring).
    """
    params = dict(model.params if model_params is None else model_params)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    try:
        probe = GNNAnnot.from_params(params)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"checkpoint {path}: model_params cannot rebuild the model: {exc}"
                          ) from exc
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        diff = sorted(set(expected.items()) ^ set(found.items()))[:3]
        raise ConfigError(f"checkpoint {path}: model_params do not match the model's "
                          f"weights (first differences: {diff})")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_params": _plain(params, "model_params"),
        "state_dict": state,
        "extra": _plain(extra or {}, "extra"),
    }
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``str(exc)`` on one line (PyTorch's messages span many), at most ``limit`` chars."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _state_mismatch(want: dict[str, Any], have: dict[str, Any]) -> str:
    """One line naming the missing, unexpected and wrongly shaped weights ('' if none)."""

    def names(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    missing = sorted(k for k in want if k not in have)
    unexpected = sorted(str(k) for k in have if k not in want)
    shapes = sorted(
        f"{k} {tuple(getattr(have[k], 'shape', ()))} vs {tuple(want[k].shape)}"
        for k in want
        if k in have and tuple(getattr(have[k], "shape", ())) != tuple(want[k].shape)
    )
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({names(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({names(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} of another shape (stored vs expected: {names(shapes)})")
    return "; ".join(parts)


def load_checkpoint(
    path: str | os.PathLike[str],
    expected_params: dict[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[GNNAnnot, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: checkpoint file.
        expected_params: hyper-parameters the caller requires (e.g. from params.yaml or
            the feature names of the current cache); each given key must equal the stored
            value (missing optional keys compare against the defaults).
        map_location: device of the returned model.

    Returns:
        ``(model, meta)``: the model in eval mode on ``map_location``; ``meta`` =
        ``{"model_params": ..., "extra": ..., "version": ..., "path": str}``.

    Raises:
        DataError: missing, unreadable/corrupt file, missing keys, wrong format/version,
            parameter mismatch (naming the key, expected vs found) or weights that do not
            fit the parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file (a text file: KeyError)
        raise DataError(f"checkpoint {path}: cannot read it (corrupt or not a gnnannot "
                        f"checkpoint): {type(exc).__name__}: {_one_line(exc)}") from exc
    if not isinstance(payload, dict):
        raise DataError(f"checkpoint {path}: expected a dict, found {type(payload).__name__}")
    for key in _REQUIRED:
        if key not in payload:
            raise DataError(f"checkpoint {path}: missing key {key!r} "
                            f"(found keys {sorted(map(str, payload))})")
    if payload["format"] != CHECKPOINT_FORMAT:
        raise DataError(f"checkpoint {path}: 'format' expected {CHECKPOINT_FORMAT!r}, "
                        f"found {payload['format']!r}")
    if payload["version"] != CHECKPOINT_VERSION:
        raise DataError(f"checkpoint {path}: 'version' expected {CHECKPOINT_VERSION}, "
                        f"found {payload['version']!r}")
    params = payload["model_params"]
    if not isinstance(params, dict):
        raise DataError(f"checkpoint {path}: 'model_params' expected a dict, found "
                        f"{type(params).__name__}")
    stored = {**DEFAULT_PARAMS, **params}
    for key, want in (expected_params or {}).items():
        if key not in DEFAULT_PARAMS:
            raise ConfigError(f"expected_params: unknown model param {key!r}")
        have = stored.get(key)
        if isinstance(want, tuple):
            want = list(want)
        if have != want:
            raise DataError(f"checkpoint {path}: model param {key!r} expected {want!r}, "
                            f"found {have!r}")
    try:
        model = GNNAnnot.from_params(params)
    except (ConfigError, TypeError) as exc:
        raise DataError(f"checkpoint {path}: invalid 'model_params': {exc}") from exc
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise DataError(f"checkpoint {path}: 'state_dict' expected a dict, found "
                        f"{type(state).__name__}")
    problems = _state_mismatch(model.state_dict(), state)
    if problems:
        raise DataError(f"checkpoint {path}: weights do not match 'model_params': {problems}")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # noqa: BLE001 - e.g. a tensor of another dtype
        raise DataError(f"checkpoint {path}: weights do not match 'model_params': "
                        f"{_one_line(exc)}") from exc
    model.to(map_location).eval()
    meta = {"model_params": params, "extra": payload.get("extra", {}),
            "version": payload["version"], "path": str(path)}
    return model, meta
