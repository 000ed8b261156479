"""The GNN-annot network: input embeddings, a stack of GatedGCN layers and an MLP readout
giving one "object vs rest" logit per node and object.

Multi-object inference shares the graph: node states are laid out ``(N, K, d)`` (the K
objects along a batch axis), so every gather/scatter over the edges serves all objects
at once. This is mathematically identical to running the model on a batch of K disjoint
copies of the graph, one per object, each with that object's dynamic features (batch norm
sees every (node, object) pair as one sample; graph norm uses the size of one copy).

Training on a batch of several graphs (sessions): concatenate them PyG-style (offset
``edge_index``, ``batch`` vector of graph ids) and give ``x_dyn`` a common K (pad sessions
with fewer objects with all-zero dynamic features and mask those rows out of the loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gnnannot.errors import ConfigError
from gnnannot.model.gatedgcn import GatedGCNLayer, InferencePlan

__all__ = ["GNNAnnot", "combine_objects", "DEFAULT_PARAMS"]

#: Hyper-parameters of :class:`GNNAnnot` and their defaults (the paper's architecture).
DEFAULT_PARAMS: dict[str, Any] = {
    "n_const": None,  # required: constant node feature count
    "n_dyn": None,  # required: dynamic node feature count
    "n_edge": None,  # required: edge feature count
    "hidden": 20,
    "n_layers": 12,
    "dropout": 0.1,
    "batch_norm": True,
    "graph_norm": True,
    "residual": True,
    "readout_layers": 2,
    "bn_eps": 1e-9,
    "gate_eps": 1e-6,
    "const_features": None,  # optional list of names (len n_const)
    "dyn_features": None,  # optional list of names (len n_dyn)
    "edge_features": None,  # optional list of names (len n_edge)
    # optional prior: names of two dynamic features (p_k, p_bg) whose scaled difference
    # a * (p_k - p_bg) is added to the readout (a residual on a baseline's answer)
    "prior_features": None,
    "prior_scale": 10.0,
}


def _graph_norms(
    n_nodes: int, edge_index: Tensor, batch: Tensor | None
) -> tuple[float | Tensor, float | Tensor]:
    """``1/sqrt(|V_g|)`` per node and ``1/sqrt(|E_g|)`` per edge of its graph g."""
    if batch is None:
        return 1.0 / max(n_nodes, 1) ** 0.5, 1.0 / max(edge_index.shape[1], 1) ** 0.5
    n_graphs = int(batch.max()) + 1 if batch.numel() else 1
    node_counts = torch.bincount(batch, minlength=n_graphs).clamp_(min=1).float()
    edge_graph = batch.index_select(0, edge_index[1])
    edge_counts = torch.bincount(edge_graph, minlength=n_graphs).clamp_(min=1).float()
    return node_counts.rsqrt()[batch], edge_counts.rsqrt()[edge_graph]


class GNNAnnot(nn.Module):
    """GatedGCN segmentation network, one binary output per (object, node).

    Args:
        n_const: number of constant node features (per node, shared by all objects).
        n_dyn: number of dynamic node features (per object and node).
        n_edge: number of edge features.
        hidden: width d of node and edge states.
        n_layers: number of GatedGCN layers.
        dropout: dropout probability inside the layers.
        batch_norm, graph_norm, residual: layer options (see :class:`GatedGCNLayer`).
        readout_layers: hidden layers of the MLP readout (each halves the width).
        bn_eps: ε of batch norm. Small by default because graph norm scales values by
            ``1/sqrt(n)`` (``n`` ~ 5e4 nodes, 4e5 edges), which would otherwise make the
            usual 1e-5 dominate the batch variance.
        gate_eps: ε of the gate normalisation.
        const_features, dyn_features, edge_features: optional feature names, stored with
            the hyper-parameters (checkpoints) and checked against the counts.
        prior_features: optional pair ``(fg, bg)`` of names in ``dyn_features``. The
            network then learns a residual on a prior: with ``p_k`` the ``fg`` feature of
            object k and ``p_0`` the ``bg`` feature (e.g. the random walker's object and
            background probabilities),

                z_k = a * (p_k - p_0) + MLP(h_k)

            with a learned scale ``a > 0`` and the last readout layer initialised to zero,
            so the untrained network reproduces the prior's labels exactly
            (``sigmoid(z_k) > 0.5`` iff ``p_k > p_0``; the object with the largest ``p_k``
            wins, as in an argmax over background and objects) and training only has to
            learn where to correct it.
        prior_scale: the initial ``a`` (logit per unit of probability difference).

    Constant node and edge features are standardised inside the model with the
    ``node_mean``/``node_std``/``edge_mean``/``edge_std`` buffers (identity until
    :meth:`set_normalization` is called), so checkpoints carry their normalisation.
    """

    def __init__(
        self,
        n_const: int,
        n_dyn: int,
        n_edge: int,
        hidden: int = 20,
        n_layers: int = 12,
        dropout: float = 0.1,
        batch_norm: bool = True,
        graph_norm: bool = True,
        residual: bool = True,
        readout_layers: int = 2,
        bn_eps: float = 1e-9,
        gate_eps: float = 1e-6,
        const_features: Sequence[str] | None = None,
        dyn_features: Sequence[str] | None = None,
        edge_features: Sequence[str] | None = None,
        prior_features: Sequence[str] | None = None,
        prior_scale: float = 10.0,
    ) -> None:
        super().__init__()
        for name, val, lo in (("n_const", n_const, 0), ("n_dyn", n_dyn, 0), ("n_edge", n_edge, 0),
                              ("hidden", hidden, 1), ("n_layers", n_layers, 1),
                              ("readout_layers", readout_layers, 0)):
            if not isinstance(val, int) or isinstance(val, bool) or val < lo:
                raise ConfigError(f"model param {name!r}: expected an int >= {lo}, found {val!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model param 'dropout': expected 0 <= p < 1, found {dropout!r}")
        if n_const + n_dyn == 0:
            raise ConfigError("model params 'n_const' + 'n_dyn': expected > 0 node features")
        for name, names, n in (("const_features", const_features, n_const),
                               ("dyn_features", dyn_features, n_dyn),
                               ("edge_features", edge_features, n_edge)):
            if names is not None and len(names) != n:
                raise ConfigError(
                    f"model param {name!r}: expected {n} names, found {len(names)}")
        self.prior_index: tuple[int, int] | None = None
        if prior_features is not None:
            if dyn_features is None or len(prior_features) != 2 or any(
                    f not in dyn_features for f in prior_features):
                raise ConfigError(
                    "model param 'prior_features': expected two names from dyn_features "
                    f"{list(dyn_features or [])}, found {list(prior_features)!r}")
            self.prior_index = (list(dyn_features).index(prior_features[0]),
                                list(dyn_features).index(prior_features[1]))
        if not prior_scale > 0.0:
            raise ConfigError(f"model param 'prior_scale': expected > 0, found "
                              f"{prior_scale!r}")
        self.params: dict[str, Any] = {
            "n_const": n_const, "n_dyn": n_dyn, "n_edge": n_edge, "hidden": hidden,
            "n_layers": n_layers, "dropout": float(dropout), "batch_norm": batch_norm,
            "graph_norm": graph_norm, "residual": residual, "readout_layers": readout_layers,
            "bn_eps": float(bn_eps), "gate_eps": float(gate_eps),
            "const_features": list(const_features) if const_features is not None else None,
            "dyn_features": list(dyn_features) if dyn_features is not None else None,
            "edge_features": list(edge_features) if edge_features is not None else None,
            "prior_features": list(prior_features) if prior_features is not None else None,
            "prior_scale": float(prior_scale),
        }
        self.graph_norm = graph_norm
        d = hidden
        self.embed_const = nn.Linear(n_const, d) if n_const else None
        self.embed_dyn = nn.Linear(n_dyn, d, bias=n_const == 0) if n_dyn else None
        # with no edge features the edge state starts from a learned constant
        self.embed_edge = nn.Linear(n_edge, d) if n_edge else None
        self.edge_const = nn.Parameter(torch.zeros(d)) if not n_edge else None
        self.layers = nn.ModuleList(
            GatedGCNLayer(d, dropout=dropout, batch_norm=batch_norm, residual=residual,
                          eps=gate_eps)
            for _ in range(n_layers)
        )
        for layer in self.layers:
            for bn in (layer.bn_h, layer.bn_e):
                if isinstance(bn, nn.BatchNorm1d):
                    bn.eps = bn_eps
        mlp: list[nn.Module] = []
        width = d
        for _ in range(readout_layers):
            nxt = max(width // 2, 1)
            mlp += [nn.Linear(width, nxt), nn.ReLU()]
            width = nxt
        mlp.append(nn.Linear(width, 1))
        self.readout = nn.Sequential(*mlp)
        self.prior_log_scale: nn.Parameter | None = None
        if self.prior_index is not None:
            nn.init.zeros_(mlp[-1].weight)
            nn.init.zeros_(mlp[-1].bias)
            # a = exp(log_a) stays positive, so the prior's ordering is never inverted
            self.prior_log_scale = nn.Parameter(torch.tensor(float(prior_scale)).log())
        self.register_buffer("node_mean", torch.zeros(n_const))
        self.register_buffer("node_std", torch.ones(n_const))
        self.register_buffer("edge_mean", torch.zeros(n_edge))
        self.register_buffer("edge_std", torch.ones(n_edge))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GNNAnnot:
        """Build from a hyper-parameter dict (unknown keys raise ConfigError; missing
        optional keys take :data:`DEFAULT_PARAMS`)."""
        unknown = sorted(set(params) - set(DEFAULT_PARAMS))
        if unknown:
            raise ConfigError(f"model params: unknown key(s) {unknown}; "
                              f"expected a subset of {sorted(DEFAULT_PARAMS)}")
        merged = {**DEFAULT_PARAMS, **params}
        for key in ("n_const", "n_dyn", "n_edge"):
            if merged[key] is None:
                raise ConfigError(f"model params: missing required key {key!r}")
        return cls(**merged)

    def set_normalization(
        self,
        node_mean: Any = None,
        node_std: Any = None,
        edge_mean: Any = None,
        edge_std: Any = None,
    ) -> None:
        """Set the standardisation of constant node / edge features (arrays of length
        n_const / n_edge; std values <= 1e-12 are replaced by 1)."""
        for name, val in (("node_mean", node_mean), ("node_std", node_std),
                          ("edge_mean", edge_mean), ("edge_std", edge_std)):
            if val is None:
                continue
            buf: Tensor = getattr(self, name)
            t = torch.as_tensor(np.asarray(val, dtype=np.float32)).reshape(-1)
            if t.shape != buf.shape:
                raise ConfigError(
                    f"normalisation {name!r}: expected shape {tuple(buf.shape)}, "
                    f"found {tuple(t.shape)}")
            if name.endswith("std"):
                t = torch.where(t > 1e-12, t, torch.ones_like(t))
            buf.copy_(t.to(buf.device))

    def forward(
        self,
        x_const: Tensor | None,
        x_dyn: Tensor | None,
        edge_index: Tensor,
        edge_attr: Tensor | None,
        batch: Tensor | None = None,
    ) -> Tensor:
        """Logits of "node belongs to object k".

        Args:
            x_const: ``(N, n_const)`` float constant node features (or None if n_const=0).
            x_dyn: ``(K, N, n_dyn)`` float dynamic features of each object (K >= 1).
            edge_index: ``(2, E)`` long, row 0 source, row 1 target (include both
                directions for undirected edges).
            edge_attr: ``(E, n_edge)`` float edge features (or None if n_edge=0).
            batch: optional ``(N,)`` long graph id of each node when several graphs are
                batched (graph norm then uses each graph's own size).

        Returns:
            ``(K, N)`` float logits; ``logits[k]`` depends only on ``x_dyn[k]`` (and the
            shared inputs), except through batch-norm statistics in training mode.
        """
        p = self.params
        if x_dyn is None:
            if p["n_dyn"]:
                raise ConfigError(f"x_dyn: expected (K, N, {p['n_dyn']}), found None")
            x_dyn_ = None
            n_obj = 1
        else:
            if x_dyn.dim() != 3 or x_dyn.shape[2] != p["n_dyn"]:
                raise ConfigError(
                    f"x_dyn: expected shape (K, N, {p['n_dyn']}), found {tuple(x_dyn.shape)}")
            x_dyn_ = x_dyn
            n_obj = x_dyn.shape[0]
        if x_const is not None and (x_const.dim() != 2 or x_const.shape[1] != p["n_const"]):
            raise ConfigError(
                f"x_const: expected shape (N, {p['n_const']}), found {tuple(x_const.shape)}")
        n_nodes = x_const.shape[0] if x_const is not None else x_dyn.shape[1]  # type: ignore
        n_edges = edge_index.shape[1]
        if edge_attr is not None and (edge_attr.shape != (n_edges, p["n_edge"])):
            raise ConfigError(f"edge_attr: expected shape ({n_edges}, {p['n_edge']}), "
                              f"found {tuple(edge_attr.shape)}")
        d = p["hidden"]

        # input embeddings: h (N, K, d); e (E, d), shared by the objects until layer 1
        h: Tensor | None = None
        if self.embed_const is not None and x_const is not None:
            xc = (x_const - self.node_mean) / self.node_std
            h = self.embed_const(xc).unsqueeze(1)  # (N, 1, d)
        if self.embed_dyn is not None and x_dyn_ is not None:
            hd = self.embed_dyn(x_dyn_.transpose(0, 1))  # (N, K, d)
            h = hd if h is None else h + hd
        assert h is not None
        h = h.expand(n_nodes, n_obj, d).contiguous()
        if self.embed_edge is not None and edge_attr is not None:
            e = self.embed_edge((edge_attr - self.edge_mean) / self.edge_std)
        else:
            assert self.edge_const is not None
            e = self.edge_const.expand(n_edges, d)

        snorm_n, snorm_e = (_graph_norms(n_nodes, edge_index, batch)
                            if self.graph_norm else (None, None))
        plan = None
        if not self.training and not torch.is_grad_enabled():
            # inference: one edge layout for all layers (edges sorted by target; the
            # edge states are internal, so they can stay in that order)
            plan = InferencePlan.build(edge_index, n_nodes, n_obj,
                                       self.layers[0].cpu_chunk_rows)
            if plan.order is not None:
                e = e.index_select(0, plan.order)
                if isinstance(snorm_e, Tensor) and snorm_e.dim() > 0:
                    snorm_e = snorm_e.index_select(0, plan.order)
        last = len(self.layers) - 1
        ws: dict[str, Tensor] | None = {} if plan is not None else None
        for i, layer in enumerate(self.layers):
            h, e = layer(h, e, edge_index, snorm_n, snorm_e, update_edges=i < last,
                         inplace_edges=i > 0, plan=plan, workspace=ws)
        logits = self.readout(h).squeeze(-1).transpose(0, 1)  # (K, N)
        if self.prior_index is not None and x_dyn_ is not None:
            assert self.prior_log_scale is not None
            fg, bg = self.prior_index
            diff = x_dyn_[..., fg] - x_dyn_[..., bg]  # (K, N)
            logits = logits + self.prior_log_scale.exp() * diff
        return logits

    @torch.inference_mode()
    def predict_proba(
        self,
        x_const: Tensor | None,
        x_dyn: Tensor | None,
        edge_index: Tensor,
        edge_attr: Tensor | None,
    ) -> Tensor:
        """``(K, N)`` sigmoid probabilities in eval mode (restores the training flag)."""
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self.forward(x_const, x_dyn, edge_index, edge_attr))
        finally:
            self.train(was_training)


def combine_objects(probs: Tensor | np.ndarray, threshold: float = 0.5) -> Tensor | np.ndarray:
    """Combine per-object probabilities into one multi-object label per node.

    ``label[n] = 1 + argmax_k probs[k, n]`` if ``max_k probs[k, n] > threshold`` (strictly),
    else 0 (background). Ties between objects go to the lowest object index (object 1
    before object 2). NaN probabilities count as 0.

    Args:
        probs: ``(K, N)`` probabilities (torch or numpy); K = 0 gives all background.
        threshold: background threshold.

    Returns:
        ``(N,)`` labels 0..K: ``torch.long`` on the input's device for a tensor input,
        ``np.int64`` for an array input.
    """
    if isinstance(probs, np.ndarray):
        return combine_objects(torch.from_numpy(np.asarray(probs)), threshold).numpy()
    if probs.dim() != 2:
        raise ConfigError(f"probs: expected shape (K, N), found {tuple(probs.shape)}")
    n_obj, n_nodes = probs.shape
    if n_obj == 0:
        return torch.zeros(n_nodes, dtype=torch.long, device=probs.device)
    p = torch.nan_to_num(probs.float(), nan=0.0)
    best, idx = p.max(dim=0)  # first maximal index on ties
    # torch.max's tie rule is not documented for all backends: recompute explicitly
    is_best = p == best.unsqueeze(0)
    ar = torch.arange(n_obj, device=p.device).unsqueeze(1).expand_as(p)
    idx = torch.where(is_best, ar, torch.full_like(ar, n_obj)).min(dim=0).values
    return torch.where(best > threshold, idx + 1, torch.zeros_like(idx))
