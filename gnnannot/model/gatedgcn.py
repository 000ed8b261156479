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

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

__all__ = ["GatedGCNLayer"]


def _expand_norm(norm: float | Tensor | None, like: Tensor) -> float | Tensor | None:
    """Reshape a per-row norm (N,) so it broadcasts against ``like`` (N, ..., d)."""
    if norm is None or not isinstance(norm, Tensor):
        return norm
    if norm.dim() == 0:
        return norm
    return norm.reshape(norm.shape[0], *([1] * (like.dim() - 1)))


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

        In eval mode with autograd disabled the layer runs a chunked inference path
        (BN folded into a per-channel affine map, edges processed in cache-sized blocks,
        no (E, K, d) temporaries) that computes the same values up to float rounding.

        Returns:
            ``(h', e')`` with ``h'`` shaped like ``h`` and ``e'`` shaped ``(E, *h.shape[1:])``.
        """
        if not self.training and not torch.is_grad_enabled():
            return self._forward_inference(
                h, e, edge_index, snorm_n, snorm_e, update_edges, inplace_edges
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
    ) -> tuple[Tensor, Tensor]:
        d = self.dim
        n_nodes, n_edges = h.shape[0], edge_index.shape[1]
        obj_shape = h.shape[1:-1]  # () or (K,)
        n_obj = h[0].numel() // d
        src, dst = edge_index[0], edge_index[1]
        w, b = self.node_proj.weight, self.node_proj.bias
        cw, cb = self.C.weight, self.C.bias
        uh = F.linear(h, w[:d], b[:d])
        # A h_i + (bias of C): the C bias is added once per node instead of once per edge
        ah = F.linear(h, w[d : 2 * d], b[d : 2 * d] + cb)
        bvh = F.linear(h, w[2 * d :], b[2 * d :]).unflatten(-1, (2, d))  # (N, ..., 2, d)
        bvh = bvh.movedim(-2, 1).contiguous()  # (N, 2, ..., d): [B h | V h]
        acc_num = h.new_zeros((n_nodes, *obj_shape, d))  # Σ σ ⊙ V h_j
        acc_den = h.new_zeros((n_nodes, *obj_shape, d))  # Σ σ
        shared_e = e.dim() < h.dim()
        bshape = (-1, *([1] * len(obj_shape)), d)  # (E, 1.., d) broadcast over objects
        ce_shared = e @ cw.t() if shared_e else None  # (E, d), computed once
        se_full: Tensor | None = None
        se_scale: Tensor | float = 1.0
        se_shift: Tensor | float = 0.0
        e_out = e
        if update_edges:
            if inplace_edges and not shared_e and e.is_contiguous():
                e_out = e
            else:
                e_out = h.new_empty((n_edges, *obj_shape, d))
            if isinstance(snorm_e, Tensor) and snorm_e.dim() > 0:
                se_full = snorm_e
                se_scale, se_shift = self._bn_affine(self.bn_e, None, h)
            else:
                se_scale, se_shift = self._bn_affine(self.bn_e, snorm_e, h)
        if h.device.type == "cpu":
            chunk = max(256, self.cpu_chunk_rows // max(1, n_obj))
        else:
            chunk = max(n_edges, 1)
        sig_buf = h.new_empty((min(chunk, n_edges), *obj_shape, d))
        msg_buf = torch.empty_like(sig_buf)
        cwt = cw.t()
        for s in range(0, n_edges, chunk):
            t = min(s + chunk, n_edges)
            si, di = src[s:t], dst[s:t]
            ec = e[s:t]
            eh = ah.index_select(0, di)  # (c, .., d)
            if shared_e:
                assert ce_shared is not None
                eh += ce_shared[s:t].reshape(bshape)
            else:
                eh.view(-1, d).addmm_(ec.reshape(-1, d), cwt)
            bv = bvh.index_select(0, si)  # (c, 2, .., d)
            eh += bv[:, 0]
            sig = torch.sigmoid(eh, out=sig_buf[: t - s])
            msg = torch.mul(sig, bv[:, 1], out=msg_buf[: t - s])
            acc_num.index_add_(0, di, msg)
            acc_den.index_add_(0, di, sig)
            if update_edges:
                if se_full is not None:
                    eh *= _expand_norm(se_full[s:t], eh)
                eh.mul_(se_scale).add_(se_shift).relu_()
                if self.residual:
                    if shared_e:
                        ec = ec.reshape(bshape)
                    torch.add(ec, eh, out=e_out[s:t])
                else:
                    e_out[s:t] = eh
        x = acc_den.add_(self.eps).reciprocal_().mul_(acc_num).add_(uh)
        scale, shift = self._bn_affine(self.bn_h, snorm_n, x)
        x = x.mul_(scale).add_(shift).relu_()
        h_out = x.add_(h) if self.residual else x
        return h_out, e_out

    #: rows (edges x objects) per block of the CPU inference path.
    cpu_chunk_rows: int = 24576

    def message(self, vh_j: Tensor, sig: Tensor) -> Tensor:
        return torch.cat([sig * vh_j, sig], dim=-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(dim={self.dim}, dropout={self.dropout})"
