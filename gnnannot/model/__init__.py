"""GNN model (GatedGCN), checkpoints, dynamic node features and the per-session label
model. See ``net.py`` for the architecture and ``dynamic_features.py`` for the features.

The names below are loaded on first use (PEP 562), so importing a numpy-only module of
this package (``label_model``, ``hits``) does not import torch."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "DYNAMIC_FEATURE_NAMES": "dynamic_features", "DynamicFeatureBuilder": "dynamic_features",
    "build_dynamic_features": "dynamic_features", "count_scribble_hits": "hits",
    "GatedGCNLayer": "gatedgcn",
    "LogisticModel": "label_model", "fit_logistic": "label_model",
    "fit_object_models": "label_model", "predict_object_probs": "label_model",
    "DEFAULT_PARAMS": "net", "GNNAnnot": "net", "combine_objects": "net",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
