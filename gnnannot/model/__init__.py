"""GNN model (GatedGCN), checkpoints, dynamic node features and the per-session label
model. See ``net.py`` for the architecture and ``dynamic_features.py`` for the features."""

from gnnannot.model.checkpoint import load_checkpoint, save_checkpoint
from gnnannot.model.dynamic_features import (
    DYNAMIC_FEATURE_NAMES,
    DynamicFeatureBuilder,
    build_dynamic_features,
    count_scribble_hits,
)
from gnnannot.model.gatedgcn import GatedGCNLayer
from gnnannot.model.label_model import (
    LogisticModel,
    fit_logistic,
    fit_object_models,
    predict_object_probs,
)
from gnnannot.model.net import DEFAULT_PARAMS, GNNAnnot, combine_objects

__all__ = [
    "DEFAULT_PARAMS",
    "DYNAMIC_FEATURE_NAMES",
    "DynamicFeatureBuilder",
    "GNNAnnot",
    "GatedGCNLayer",
    "LogisticModel",
    "build_dynamic_features",
    "combine_objects",
    "count_scribble_hits",
    "fit_logistic",
    "fit_object_models",
    "load_checkpoint",
    "predict_object_probs",
    "save_checkpoint",
]
