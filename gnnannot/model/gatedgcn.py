"""Edge-gated graph convolution (GatedGCN) with edge features.

After Bresson & Laurent, "Residual Gated Graph ConvNets" (2017), in the form used by the
"Benchmarking GNNs" GatedGCN layer (residual connections, batch norm, graph-size norm,
dropout). Written from the equations, for PyTorch Geometric's ``MessagePassing``.

Notation (``edge_index[0] = j`` is the source, ``edge_index[1] = i`` the target, so the
message of edge ``(j -> i)`` is aggregated at ``i``)::

    ê_ij  = C e_ij + A h_i + B h_j                       (edge pre-activation)
    η_ij  = σ(ê_ij) / (Σ_{j' -> i} σ(ê_ij') + ε)         (edge gates, per channel)
    h_i'  = h_i  + Dropout(ReLU(BN(GN(U h_i + Σ_{j -> i} η_ij ⊙ V h_j))))
    e_ij' = e_ij + Dropout(ReLU(BN(GN(ê_ij))))

σ is the logistic sigmoid, ⊙ the element-wise product, A, B, C, U, V are affine maps
``R^d -> R^d`` (with bias). GN is the graph-size norm: node values are multiplied by
``1/sqrt(n_nodes of their graph)`` and edge values by ``1/sqrt(n_edges of their graph)``
(``snorm_n``/``snorm_e``; ``None`` skips it). BN is a ``BatchNorm1d`` over all nodes
(edges) of the batch. A node without incoming edges gets ``U h_i`` only.

The layer is shape-polymorphic over extra "object" axes: ``h`` may be ``(N, d)`` or
``(N, K, d)`` and ``e`` ``(E, d)`` or ``(E, K, d)`` (the K copies share the graph
structure; an ``(E, d)`` edge tensor is broadcast over the K node copies). Batch norm
treats every (node, object) pair as one sample, exactly as if the K copies were batched
as K disjoint graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

__all__ = ["GatedGCNLayer", "InferencePlan"]


def _expand_norm(norm: float | Tensor | None, like: Tensor) -> float | Tensor | None:
    """Reshape a per-row norm (N,) so it broadcasts against ``like`` (N, ..., d)."""
    if norm is None or not isinstance(norm, Tensor):
        return norm
    if norm.dim() == 0:
        return norm
    return norm.reshape(norm.shape[0], *([1] * (like.dim() - 1)))


@dataclass
class InferencePlan:
    """Edge layout for the chunked inference path, computed once per graph and shared by
    all layers: edges sorted by target, cut into blocks of whole target nodes.

    Attributes:
        src, dst: ``(E,)`` sorted by ``dst`` (stable).
        order: permutation applied to the caller's edges (None if already sorted).
        ab_index: ``(2E,)`` interleaved ``[dst_k, src_k + N]`` rows of the [A h; B h] table.
        chunks: ``(edge start, edge end, node start, node end)`` per block.
        bag_offsets: per block ``[0, 2, 4, ...]`` (2-row bags of ``ab_index``).
        agg_offsets: per block CSR offsets of the block's target nodes (local to block).
        arange: ``arange(max block size)``.
        empty_ranges: node ranges outside every block (no incoming edges).
    """

    src: Tensor
    dst: Tensor
    order: Tensor | None
    ab_index: Tensor
    chunks: list[tuple[int, int, int, int]]
    bag_offsets: list[Tensor]
    agg_offsets: list[Tensor]
    arange: Tensor
    empty_ranges: list[tuple[int, int]]

    @classmethod
    def build(cls, edge_index: Tensor, n_nodes: int, n_obj: int, chunk_rows: int
              ) -> InferencePlan:
        """Plan for ``edge_index`` ``(2, E)``; blocks of about ``chunk_rows / n_obj`` edges
        on CPU, one block on other devices."""
        src, dst = edge_index[0], edge_index[1]
        n_edges = src.numel()
        order = None
        if n_edges > 1 and not bool((dst[1:] >= dst[:-1]).all()):
            order = torch.argsort(dst, stable=True)
            src, dst = src[order], dst[order]
        dev = edge_index.device
        counts = torch.bincount(dst, minlength=n_nodes)
        rowptr = torch.zeros(n_nodes + 1, dtype=torch.long, device=dev)
        torch.cumsum(counts, 0, out=rowptr[1:])
        if dev.type == "cpu":
            per = max(256, chunk_rows // max(1, n_obj))
        else:
            per = max(n_edges, 1)
        # node boundaries: first node whose in-edges start at or after k * per
        targets = torch.arange(0, n_edges, per, device=dev)
        nb = torch.searchsorted(rowptr[:-1], targets, right=False).tolist() + [n_nodes]
        nb = sorted(set([0] + nb))
        rp = rowptr.tolist() if dev.type == "cpu" else rowptr.cpu().tolist()
        chunks, agg_offsets, empty = [], [], []
        for n0, n1 in zip(nb[:-1], nb[1:], strict=True):
            s, t = rp[n0], rp[n1]
            if t == s:
                empty.append((n0, n1))  # nodes without in-edges: their sums are 0
                continue
            chunks.append((s, t, n0, n1))
            agg_offsets.append(rowptr[n0:n1] - s)
        max_c = max((t - s for s, t, _, _ in chunks), default=0)
        ar = torch.arange(max_c, device=dev)
        bag_all = torch.arange(0, 2 * max_c, 2, device=dev)
        bag_offsets = [bag_all[: t - s] for s, t, _, _ in chunks]
        ab_index = torch.stack([dst, src + n_nodes], dim=1).reshape(-1)
        return cls(src=src, dst=dst, order=order, ab_index=ab_index, chunks=chunks,
                   bag_offsets=bag_offsets, agg_offsets=agg_offsets, arange=ar,
                   empty_ranges=empty)

    def inverse_order(self) -> Tensor:
        assert self.order is not None
        inv = torch.empty_like(self.order)
        inv[self.order] = torch.arange(self.order.numel(), device=self.order.device)
        return inv


class GatedGCNLayer(MessagePassing):
    """One GatedGCN layer ``(h, e) -> (h', e')`` with hidden width ``dim`` (see module
    docstring for the equations).

    Args:
        dim: feature width d of nodes and edges (in = out, needed by the residuals).
        dropout: dropout probability applied after the ReLU (training only).
        batch_norm: apply BN (otherwise identity).
        residual: add the input to the output.
        eps: ε of the gate normalisation.
    """

    def __init__(
        self,
        dim: int,
        dropout: float = 0.0,
        batch_norm: bool = True,
        residual: bool = True,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(aggr="add", node_dim=0)
        self.dim = dim
        self.dropout = float(dropout)
        self.residual = residual
        self.eps = eps
        # U, A, B, V of the node side as one (d -> 4d) map: one matmul per layer.
        self.node_proj = nn.Linear(dim, 4 * dim)
        self.C = nn.Linear(dim, dim)
        self.bn_h: nn.Module = nn.BatchNorm1d(dim) if batch_norm else nn.Identity()
        self.bn_e: nn.Module = nn.BatchNorm1d(dim) if batch_norm else nn.Identity()

    # Views of the packed node projection, for readability and for the reference tests.
    @property
    def U(self) -> tuple[Tensor, Tensor]:  # noqa: N802
        return self._part(0)

    @property
    def A(self) -> tuple[Tensor, Tensor]:  # noqa: N802
        return self._part(1)

    @property
    def B(self) -> tuple[Tensor, Tensor]:  # noqa: N802
        return self._part(2)

    @property
    def V(self) -> tuple[Tensor, Tensor]:  # noqa: N802
        return self._part(3)

    def _part(self, k: int) -> tuple[Tensor, Tensor]:
        d = self.dim
        sl = slice(k * d, (k + 1) * d)
        return self.node_proj.weight[sl], self.node_proj.bias[sl]

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.node_proj.reset_parameters()
        self.C.reset_parameters()
        for bn in (self.bn_h, self.bn_e):
            if isinstance(bn, nn.BatchNorm1d):
                bn.reset_parameters()

    def _bn(self, bn: nn.Module, x: Tensor) -> Tensor:
        if isinstance(bn, nn.Identity):
            return x
        return bn(x.reshape(-1, self.dim)).reshape(x.shape)

    def forward(
        self,
        h: Tensor,
        e: Tensor,
        edge_index: Tensor,
        snorm_n: float | Tensor | None = None,
        snorm_e: float | Tensor | None = None,
        update_edges: bool = True,
        inplace_edges: bool = False,
        plan: InferencePlan | None = None,
        workspace: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Apply the layer.

        Args:
            h: node features ``(N, d)`` or ``(N, K, d)`` float.
            e: edge features ``(E, d)`` or ``(E, K, d)`` (broadcast over K if 2-D).
            edge_index: ``(2, E)`` long, row 0 source j, row 1 target i.
            snorm_n: graph-size norm of nodes, scalar or ``(N,)``; ``None`` = no GN.
            snorm_e: graph-size norm of edges, scalar or ``(E,)``; ``None`` = no GN.
            update_edges: compute ``e'`` (pass ``False`` in the last layer when the edge
                states are not used any more; ``e`` is then returned unchanged).
            inplace_edges: in inference (eval mode, grad disabled) write ``e'`` over
                ``e`` when ``e`` already has the output shape (saves memory traffic; the
                caller must not need ``e`` afterwards). Ignored otherwise.
            plan: inference only: a precomputed :class:`InferencePlan` of ``edge_index``
                (then ``e`` and ``snorm_e`` must already be in ``plan`` order and ``e'`` is
                returned in that order); built on the fly when None.
            workspace: inference only: a dict of scratch buffers reused across layers
                (pass the same dict to every layer of a forward). With a workspace,
                ``h`` is updated in place (``h'`` is ``h``), so pass a tensor you own.

        In eval mode with autograd disabled the layer runs a chunked inference path
        (BN folded into a per-channel affine map; edges sorted by target and processed in
        cache-sized blocks of whole target nodes; ``A h_i + B h_j`` and the per-node sums
        as ``embedding_bag`` sums) that computes the same values up to float rounding.

        Returns:
            ``(h', e')`` with ``h'`` shaped like ``h`` and ``e'`` shaped ``(E, *h.shape[1:])``.
        """
        if not self.training and not torch.is_grad_enabled():
            return self._forward_inference(
                h, e, edge_index, snorm_n, snorm_e, update_edges, inplace_edges, plan,
                workspace,
            )
        d = self.dim
        src, dst = edge_index[0], edge_index[1]
        proj = self.node_proj(h)  # (N, ..., 4d)
        uh, ah, bh, vh = proj.split(d, dim=-1)
        ce = self.C(e)
        if ce.dim() < h.dim():  # shared edge features: broadcast over the object axis
            ce = ce.reshape(ce.shape[0], *([1] * (h.dim() - 2)), d)
        e_hat = ce + ah.index_select(0, dst) + bh.index_select(0, src)  # (E, ..., d)
        sig = torch.sigmoid(e_hat)
        # numerator and denominator of the gated mean in one scatter: (N, ..., 2d)
        agg = self.propagate(edge_index, vh=vh, sig=sig, size=(h.shape[0], h.shape[0]))
        num, den = agg.split(d, dim=-1)
        x = uh + num / (den + self.eps)

        nn_ = _expand_norm(snorm_n, x)
        if nn_ is not None:
            x = x * nn_
        x = F.relu(self._bn(self.bn_h, x))
        x = F.dropout(x, self.dropout, self.training)
        h_out = h + x if self.residual else x

        if not update_edges:
            return h_out, e
        ne = _expand_norm(snorm_e, e_hat)
        y = e_hat * ne if ne is not None else e_hat
        y = F.relu(self._bn(self.bn_e, y))
        y = F.dropout(y, self.dropout, self.training)
        if self.residual:
            if e.dim() < y.dim():
                e = e.reshape(e.shape[0], *([1] * (y.dim() - 2)), d)
            e_out = e + y
        else:
            e_out = y
        return h_out, e_out

    def _bn_affine(self, bn: nn.Module, norm: float | Tensor | None, like: Tensor
                   ) -> tuple[Tensor | float, Tensor | float]:
        """Eval-mode ``BN(GN(x))`` as ``x * scale + shift``; scale broadcasts to ``like``."""
        if isinstance(bn, nn.BatchNorm1d):
            assert bn.running_var is not None and bn.running_mean is not None
            scale: Tensor | float = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight
            shift: Tensor | float = -bn.running_mean * scale
            if bn.bias is not None:
                shift = shift + bn.bias
        else:
            scale, shift = 1.0, 0.0
        norm = _expand_norm(norm, like)
        if norm is not None:
            scale = scale * norm
        return scale, shift

    def _forward_inference(
        self,
        h: Tensor,
        e: Tensor,
        edge_index: Tensor,
        snorm_n: float | Tensor | None,
        snorm_e: float | Tensor | None,
        update_edges: bool,
        inplace_edges: bool,
        plan: InferencePlan | None = None,
        workspace: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        d = self.dim
        n_nodes, n_edges = h.shape[0], edge_index.shape[1]
        obj_shape = h.shape[1:-1]  # () or (K,)
        n_obj = h[0].numel() // d
        width = n_obj * d  # row width of the flattened (.., d) states
        own_plan = plan is None
        if plan is None:
            plan = InferencePlan.build(edge_index, n_nodes, n_obj, self.cpu_chunk_rows)
        if own_plan and plan.order is not None:  # work in target-sorted edge order
            e = e.index_select(0, plan.order)
            if isinstance(snorm_e, Tensor) and snorm_e.dim() > 0:
                snorm_e = snorm_e.index_select(0, plan.order)
            inplace_edges = False
        w, b = self.node_proj.weight, self.node_proj.bias
        cw, cb = self.C.weight, self.C.bias
        ws = workspace if workspace is not None else {}

        def buf(name: str, shape: tuple[int, ...]) -> Tensor:
            t = ws.get(name)
            if t is None or t.shape != shape or t.dtype != h.dtype or t.device != h.device:
                t = h.new_empty(shape)
                ws[name] = t
            return t

        h2 = h.reshape(-1, d)  # (N*K, d)
        rows = h2.shape[0]
        uh = torch.addmm(b[:d], h2, w[:d].t(), out=buf("uh", (rows, d))).view(n_nodes, width)
        # table [A h + (bias of C) ; B h]: ê_ij - C e_ij is one 2-row embedding bag
        ab = buf("ab", (2 * n_nodes, width))
        torch.addmm(b[d : 2 * d] + cb, h2, w[d : 2 * d].t(), out=ab[:n_nodes].view(rows, d))
        torch.addmm(b[2 * d : 3 * d], h2, w[2 * d : 3 * d].t(), out=ab[n_nodes:].view(rows, d))
        vh = torch.addmm(b[3 * d :], h2, w[3 * d :].t(), out=buf("vh", (rows, d)))
        vh = vh.view(n_nodes, width)
        num = buf("num", (n_nodes, width))  # Σ σ ⊙ V h_j
        den = buf("den", (n_nodes, width))  # Σ σ
        for n0, n1 in plan.empty_ranges:  # nodes without incoming edges
            num[n0:n1] = 0.0
            den[n0:n1] = 0.0
        shared_e = e.dim() < h.dim()
        ef = e if shared_e else e.reshape(n_edges, width)
        cwt = cw.t()
        ce_shared = ef @ cwt if shared_e else None  # (E, d), computed once
        se_full: Tensor | None = None
        se_scale: Tensor | float = 1.0
        se_shift: Tensor | float = 0.0
        e_out = ef
        if update_edges:
            if inplace_edges and not shared_e and e.is_contiguous():
                e_out = ef
            else:
                e_out = h.new_empty((n_edges, width))
            flat = h.new_empty((1, width))
            if isinstance(snorm_e, Tensor) and snorm_e.dim() > 0:
                se_full = snorm_e
                se_scale, se_shift = self._bn_affine(self.bn_e, None, flat)
            else:
                se_scale, se_shift = self._bn_affine(self.bn_e, snorm_e, flat)
            if isinstance(se_scale, Tensor):
                se_scale = se_scale.repeat(n_obj)
            if isinstance(se_shift, Tensor):
                se_shift = se_shift.repeat(n_obj)
        for (s, t, n0, n1), bag_off, agg_off in zip(plan.chunks, plan.bag_offsets,
                                                    plan.agg_offsets, strict=True):
            c = t - s
            si = plan.src[s:t]
            eh = F.embedding_bag(plan.ab_index[2 * s : 2 * t], ab, bag_off, mode="sum")
            if shared_e:
                assert ce_shared is not None
                eh.view(c, n_obj, d).add_(ce_shared[s:t].unsqueeze(1))
            else:
                eh.view(-1, d).addmm_(ef[s:t].reshape(-1, d), cwt)
            sig = torch.sigmoid(eh)
            msg = vh.index_select(0, si).mul_(sig)
            ar = plan.arange[:c]
            num[n0:n1] = F.embedding_bag(ar, msg, agg_off, mode="sum")
            den[n0:n1] = F.embedding_bag(ar, sig, agg_off, mode="sum")
            if update_edges:
                if se_full is not None:
                    eh.mul_(se_full[s:t].unsqueeze(1))
                eh.mul_(se_scale).add_(se_shift).relu_()
                if self.residual:
                    if shared_e:
                        torch.add(ef[s:t].repeat(1, n_obj), eh, out=e_out[s:t])
                    else:
                        torch.add(ef[s:t], eh, out=e_out[s:t])
                else:
                    e_out[s:t] = eh
        x = den.add_(self.eps).reciprocal_().mul_(num).add_(uh).reshape(h.shape)
        scale, shift = self._bn_affine(self.bn_h, snorm_n, x)
        x = x.mul_(scale).add_(shift).relu_()
        if workspace is not None:  # x lives in the workspace: return a fresh/own tensor
            h_out = h.add_(x) if self.residual else x.clone()
        else:
            h_out = x.add_(h) if self.residual else x
        if not update_edges:
            return h_out, e
        e_res = e_out.reshape(n_edges, *obj_shape, d)
        if own_plan and plan.order is not None:  # back to the caller's edge order
            e_res = e_res.index_select(0, plan.inverse_order())
        return h_out, e_res

    #: rows (edges x objects) per block of the CPU inference path.
    cpu_chunk_rows: int = 24576

    def message(self, vh_j: Tensor, sig: Tensor) -> Tensor:
        return torch.cat([sig * vh_j, sig], dim=-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(dim={self.dim}, dropout={self.dropout})"
