"""The GNN method: GatedGCN over the superpixel graph, fed with constant node/edge
features from the cache and dynamic features rebuilt at every interaction.

Dynamic features per object (``DYNAMIC_INPUT_NAMES``): the nine of
:mod:`gnnannot.model.dynamic_features` (annotated-frame flags, scribble hits, seeds
propagated along flow, the per-session logistic-regression probability, the previous
prediction) plus ``rw_prob``: the object's random-walker probability on the
colour-weighted graph (:func:`gnnannot.methods.baselines.random_walker_probs`, warm
started across interactions) and ``rw_bg_prob``, the random walker's background
probability; optionally (a network reads the inputs its ``dyn_features`` name, by default
:data:`DEFAULT_DYNAMIC_INPUTS`) ``rw_frame_ratio``, the object's walker probability
divided by its maximum over the node's frame (capped at 1: the real-footage walker's
per-frame decision, :func:`gnnannot.methods.baselines.frame_normalised_labels`) and
``rw_frame_ratio_bg`` = 1 - ``rw_frame_ratio``, so that ``prior_features:
[rw_frame_ratio, rw_frame_ratio_bg]`` starts from that decision at threshold 0.5. With
``prior_features: [rw_prob, rw_bg_prob]`` (the default training configuration) the
network adds its output to ``a * (rw_prob - rw_bg_prob)``
(:class:`gnnannot.model.net.GNNAnnot`): it starts from the best baseline's answer and
learns where to correct it.

:class:`GraphInputs` holds a video's tensors, :class:`InteractionState` one session's
dynamic state; training (:mod:`gnnannot.training.train`) and inference (:class:`GNNMethod`) share
both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnannot.errors import ConfigError, DataError
from gnnannot.interaction.seeds import SeedState
from gnnannot.methods.base import GraphLoader, GraphMethod
from gnnannot.methods.baselines import (
    AppearanceModel,
    colour_laplacian,
    frame_ratio,
    seeded_walker_probs,
)
from gnnannot.model.checkpoint import load_checkpoint
from gnnannot.model.dynamic_features import DYNAMIC_FEATURE_NAMES, DynamicFeatureBuilder
from gnnannot.model.net import GNNAnnot, combine_objects
from gnnannot.preprocess.features import scale_free_edge_features, scale_free_node_features
from gnnannot.types import VideoGraph

#: The inputs a network reads when its params name none (checkpoints before the per-frame
#: ratio, and the default training configuration).
DEFAULT_DYNAMIC_INPUTS: tuple[str, ...] = (*DYNAMIC_FEATURE_NAMES, "rw_prob", "rw_bg_prob")
#: Every dynamic input an :class:`InteractionState` builds, in this order.
DYNAMIC_INPUT_NAMES: tuple[str, ...] = (*DEFAULT_DYNAMIC_INPUTS, "rw_frame_ratio",
                                        "rw_frame_ratio_bg")
#: How constant features are presented to the network (stored in checkpoints as
#: ``extra["feature_view"]``): pixel-measured columns rescaled by
#: :func:`gnnannot.preprocess.features.scale_free_node_features` / ``scale_free_edge_features``.
FEATURE_VIEW = "scale_free_v1"


def _chosen_names(names: Any, allowed: Any, default: Any, source: str, allowed_what: str,
                  bad_what: str) -> list[str]:
    """``names`` (``None``: ``default``) as a list, checked to be distinct, non-empty
    and all in ``allowed``; else a :class:`ConfigError` naming ``source`` and the
    offending names (``bad_what``)."""
    allowed = list(allowed)
    chosen = list(default if names is None else names)
    bad = [n for n in chosen if n not in allowed]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError(f"{source}: expected distinct names from {allowed_what}{allowed}, "
                          f"found {chosen}" + (f" ({bad_what}: {bad})" if bad else ""))
    return chosen


def _column_index(chosen: list[str], built: Sequence[str]) -> list[int] | None:
    """Positions of ``chosen`` in ``built`` (``None`` when they are the same list, so no
    selection is needed)."""
    built = list(built)
    return None if chosen == built else [built.index(n) for n in chosen]


def dynamic_inputs(names: Any, source: str = "model param 'dyn_features'") -> list[str]:
    """The validated list of dynamic input names (``None``: :data:`DEFAULT_DYNAMIC_INPUTS`);
    each must be one of :data:`DYNAMIC_INPUT_NAMES`, none twice."""
    return _chosen_names(names, DYNAMIC_INPUT_NAMES, DEFAULT_DYNAMIC_INPUTS, source, "",
                         "unknown")


def constant_inputs(names: Any, available: Any, source: str = "model param "
                    "'const_features'") -> list[str]:
    """The validated constant node features a network reads: ``names`` (``None``: all of
    ``available``, the graph's ``node_feature_names``), each one of ``available``, none
    twice. Leaving out absolute colour (``L_mean`` ...) and position (``cy``, ``cx``)
    keeps a network trained on few videos from memorising their objects."""
    return _chosen_names(names, available, available, source,
                         "the graph's node features ", "not in the graph")


def model_params(graph: VideoGraph, model: dict[str, Any]) -> dict[str, Any]:
    """:class:`GNNAnnot` hyper-parameters for graphs like ``graph``: ``model`` (hidden,
    n_layers, prior_features, dyn_features, const_features, ...) plus the feature counts
    and names of the constant node features (``const_features``: a subset of the graph's,
    default all), of the edge features and of the dynamic inputs (``dyn_features``,
    default :data:`DEFAULT_DYNAMIC_INPUTS`)."""
    dyn = dynamic_inputs(model.get("dyn_features"))
    const = constant_inputs(model.get("const_features"), graph.node_feature_names)
    return {
        **model,
        "n_const": len(const), "n_dyn": len(dyn),
        "n_edge": len(graph.edge_feature_names),
        "const_features": const,
        "dyn_features": dyn,
        "edge_features": list(graph.edge_feature_names),
    }


RW_PLAIN: dict[str, Any] = {"flow_scale": 1.0, "flow_overlap": False, "prior_weight": 0.0,
                            "soft_seed_weight": 0.0, "appearance_weight": 0.0,
                            "background_weight": 0.0}
"""Random-walker input options of :class:`GraphInputs` when a checkpoint names none (the
plain walker); training passes the benchmark's random-walker options (``train.rw``)."""


class GraphInputs:
    """One video's model inputs: constant node features ``x_const (N, F) float32``,
    ``edge_index (2, E) int64``, ``edge_attr (E, Fe) float32`` (torch, on ``device``;
    node and edge features in their scale-free view, :data:`FEATURE_VIEW`), the
    dynamic-feature builder and the random-walker Laplacian. ``dyn_features`` /
    ``const_features``: the dynamic inputs / constant node features the network reads
    (default :data:`DEFAULT_DYNAMIC_INPUTS` / all of the graph's)."""

    def __init__(
        self,
        graph: VideoGraph,
        device: str | torch.device = "cpu",
        rw_beta: float = 4.0,
        decay: float = 0.9,
        rw: dict[str, Any] | None = None,
        dyn_features: Any = None,
        const_features: Any = None,
    ) -> None:
        self.graph = graph
        self.const_features = constant_inputs(const_features, graph.node_feature_names,
                                              f"{graph.seq}: constant node features")
        self.dyn_features = dynamic_inputs(dyn_features)
        # the per-frame ratio columns are built only for a network that reads them
        self.builds_ratio = not set(self.dyn_features) <= set(DEFAULT_DYNAMIC_INPUTS)
        built = DYNAMIC_INPUT_NAMES if self.builds_ratio else DEFAULT_DYNAMIC_INPUTS
        index = _column_index(self.dyn_features, built)
        self.dyn_index = None if index is None else torch.tensor(index)
        unknown = set(rw or {}) - set(RW_PLAIN)
        if unknown:
            raise ConfigError(f"random-walker input options: unknown keys {sorted(unknown)} "
                              f"(allowed {sorted(RW_PLAIN)})")
        self.rw = {**RW_PLAIN, **(rw or {})}
        self.device = torch.device(device)
        self.x_const = torch.from_numpy(scale_free_node_features(
            graph.node_features, graph.node_feature_names, graph.height, graph.width,
            graph.frame_counts))
        columns = _column_index(self.const_features, graph.node_feature_names)
        if columns is not None:
            self.x_const = self.x_const[:, columns]
        self.edge_index = torch.from_numpy(np.ascontiguousarray(graph.edge_index, np.int64))
        self.edge_attr = torch.from_numpy(scale_free_edge_features(
            graph.edge_features, graph.edge_feature_names, graph.height, graph.width,
            graph.n_nodes, graph.n_frames))
        self.x_const = self.x_const.to(self.device)
        self.edge_index = self.edge_index.to(self.device)
        self.edge_attr = self.edge_attr.to(self.device)
        self.builder = DynamicFeatureBuilder(
            graph.node_frame, graph.edge_index, graph.edge_type, graph.flow_edge_weight,
            graph.descriptors.astype(np.float32), decay=decay,
        )
        self.laplacian = colour_laplacian(graph, rw_beta, float(self.rw["flow_scale"]),
                                          bool(self.rw["flow_overlap"]))
        self.appearance = (AppearanceModel(graph.descriptors)
                           if float(self.rw["appearance_weight"]) > 0 else None)


class InteractionState:
    """One session's dynamic state on a video: scribble seeds, the previous prediction and
    the random-walker solution."""

    def __init__(
        self, inputs: GraphInputs, n_objects: int, seeds: SeedState | None = None
    ) -> None:
        self.inputs = inputs
        self.n_objects = n_objects
        self.seeds = seeds if seeds is not None else SeedState(inputs.graph, n_objects)
        self.prev_probs: np.ndarray | None = None
        self._rw: np.ndarray | None = None

    def add(self, scribble: dict[str, Any]) -> torch.Tensor:
        """Add a scribble to the seeds; return :meth:`features`."""
        self.seeds.add(scribble)
        return self.features()

    def features(self) -> torch.Tensor:
        """The dynamic inputs ``(K, N, len(inputs.dyn_features))`` of the current seeds,
        on the inputs' device."""
        s = self.seeds
        x = self.inputs.builder(s.hits.T, s.annotated, s.new_frames, self.prev_probs)
        rw = self.inputs.rw
        prev = None if self.prev_probs is None else node_labels(self.prev_probs)
        app = self.inputs.appearance
        probs = seeded_walker_probs(
            self.inputs.laplacian, s, self.n_objects + 1, prev, float(rw["prior_weight"]),
            float(rw["soft_seed_weight"]), x0=self._rw,
            appearance=None if app is None else app(s.hits),
            appearance_weight=float(rw["appearance_weight"]),
            background_weight=float(rw["background_weight"]),
        )
        n_nodes = self.inputs.graph.n_nodes
        self._rw = probs if probs is not None else np.zeros((n_nodes, self.n_objects + 1))
        obj = self._rw[:, 1:]
        rw = torch.from_numpy(obj.T.astype(np.float32))[..., None]
        rw_bg = torch.from_numpy(self._rw[:, 0].astype(np.float32))
        rw_bg = rw_bg[None, :, None].expand(self.n_objects, -1, 1)
        columns = [x, rw, rw_bg]  # DYNAMIC_INPUT_NAMES' order
        if self.inputs.builds_ratio:
            ratio = np.clip(frame_ratio(obj, self.inputs.graph.node_frame,
                                        self.inputs.graph.n_frames), 0.0, 1.0)
            ratio = torch.from_numpy(ratio.T.astype(np.float32))[..., None]
            columns += [ratio, 1.0 - ratio]
        out = torch.cat(columns, dim=2)
        if self.inputs.dyn_index is not None:
            out = out.index_select(2, self.inputs.dyn_index)
        return out.to(self.inputs.device)


def node_labels(probs: np.ndarray) -> np.ndarray:
    """``(N,) int64`` multi-object labels from ``(K, N)`` probabilities."""
    return np.asarray(combine_objects(probs), dtype=np.int64)


class GNNMethod(GraphMethod):
    """The trained GNN as an interactive session method."""

    name = "gnn"
    session_state = ("state",)  # seeds, previous prediction, random-walker solution

    def __init__(
        self, graph_loader: GraphLoader, checkpoint: str | Path, device: str = "cpu"
    ) -> None:
        super().__init__(graph_loader)
        self.device = torch.device(device)
        self.model, self.meta = load_checkpoint(checkpoint, map_location=self.device)
        self.model.eval()
        extra = self.meta.get("extra", {})
        self.rw_beta = float(extra.get("rw_beta", 4.0))
        self.decay = float(extra.get("decay", 0.9))
        self.rw = dict(extra.get("rw") or {})
        view = extra.get("feature_view")
        if view != FEATURE_VIEW:
            raise DataError(
                f"checkpoint {checkpoint}: feature view {view!r}, this version feeds "
                f"{FEATURE_VIEW!r} features; retrain the model"
            )
        dyn = self.model.params.get("dyn_features")
        try:
            self.dyn_features = dynamic_inputs(dyn, f"checkpoint {checkpoint}: dynamic features")
        except ConfigError as exc:
            raise DataError(f"{exc}; this version builds {list(DYNAMIC_INPUT_NAMES)}: "
                            "retrain the model") from None
        if len(self.dyn_features) != int(self.model.params.get("n_dyn") or 0):
            raise DataError(f"checkpoint {checkpoint}: n_dyn {self.model.params.get('n_dyn')}"
                            f" but {len(self.dyn_features)} dynamic feature names")
        self._checkpoint = Path(checkpoint)

    def on_start(self, video: Any) -> None:
        g = self.graph
        want = self.model.params.get("const_features") or None
        if want is not None and not set(want) <= set(g.node_feature_names):
            raise DataError(
                f"{video.sequence}: graph cache has node features {list(g.node_feature_names)}"
                f", checkpoint {self._checkpoint} expects {list(want)}"
            )
        self.inputs = GraphInputs(g, self.device, self.rw_beta, self.decay, self.rw,
                                  self.dyn_features, want)
        self.state = InteractionState(self.inputs, self.n_objects, self.seeds)

    def predict_nodes(self) -> np.ndarray:
        probs = predict_probs(self.model, self.inputs, self.state.features())
        self.state.prev_probs = probs
        return node_labels(probs)


def predict_probs(model: GNNAnnot, inputs: GraphInputs, x_dyn: torch.Tensor) -> np.ndarray:
    """``(K, N) float32`` object probabilities of ``model`` in eval mode."""
    probs = model.predict_proba(inputs.x_const, x_dyn, inputs.edge_index, inputs.edge_attr)
    return probs.float().cpu().numpy()
