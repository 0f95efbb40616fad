"""GATv2 attention on a fixed-degree category graph, in a dense form that shares PyG's parameters.

The IST graph gives every category exactly K in-neighbours (its mined related *seen* categories), so a
sparse scatter is not needed: gathering the K neighbours makes a dense [B, C, K, H, F] block on which the
GATv2 score, the softmax over K and the weighted sum are plain tensor ops. :class:`DenseGATv2Conv` has the
same parameters, with the same names, as ``torch_geometric.nn.GATv2Conv(..., add_self_loops=False,
residual=True)``, so either can load the other's ``state_dict``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


def batched_edge_index(neighbours: Tensor, batch_size: int) -> Tensor:
    """PyG ``edge_index`` (source j → target i) for B disjoint copies of the category graph.

    Args:
        neighbours: ``neighbours[i]`` are the K categories whose information flows into category i.
        batch_size: B, number of copies; copy b's nodes are ``b·C .. b·C + C - 1``.

    Returns:
        ``edge_index`` with row 0 = sources, row 1 = targets.

    Shapes:
        neighbours: [C, K] → [2, B·C·K]
    """
    n_categories, k = neighbours.shape
    source = neighbours.reshape(1, -1)  # [1, C·K]
    target = torch.arange(n_categories, device=neighbours.device).repeat_interleave(k).unsqueeze(0)
    offsets = (torch.arange(batch_size, device=neighbours.device) * n_categories).unsqueeze(1)  # [B, 1]
    return torch.stack([(source + offsets).reshape(-1), (target + offsets).reshape(-1)])


def dense_edge_attention(edge_index: Tensor, alpha: Tensor, neighbours: Tensor, batch_size: int) -> Tensor:
    """Per-edge coefficients (as PyG's ``GATv2Conv`` returns them) in :class:`DenseGATv2Conv`'s layout.

    Each edge is looked up by its (source j, target i) pair, so PyG may return the edges in any order. With
    ``add_self_loops=False`` and a dense ``edge_index`` it returns them as given, in the order of
    :func:`batched_edge_index`; a neighbour listed twice for one target has two edges with the same score,
    hence the same α, so either copy serves both slots.

    Args:
        edge_index: The edges PyG returned with ``alpha`` (row 0 = sources, row 1 = targets).
        alpha: Coefficient of each edge and head.
        neighbours: The category graph the edges were built from.
        batch_size: B, number of graph copies.

    Returns:
        ``α[b, i, k, m]``, the coefficient of the edge ``neighbours[i, k]`` → i in copy b and head m.

    Raises:
        ValueError: If an edge of the graph is not among the returned edges.

    Shapes:
        edge_index: [2, E], alpha: [E, H], neighbours: [C, K] → [B, C, K, H]
    """
    n_categories, k = neighbours.shape
    n_nodes = batch_size * n_categories
    expected = batched_edge_index(neighbours, batch_size)  # [2, B·C·K]
    returned_key = edge_index[1] * n_nodes + edge_index[0]  # [E], target-major pair id
    wanted_key = expected[1] * n_nodes + expected[0]  # [B·C·K]
    order = torch.argsort(returned_key)
    position = torch.searchsorted(returned_key[order], wanted_key).clamp(max=max(len(order) - 1, 0))
    found = order[position] if len(order) else position  # [B·C·K], index into the returned edges
    if not len(order) or not torch.equal(returned_key[found], wanted_key):
        raise ValueError(
            f"the attention's edge_index ({edge_index.shape[1]} edges) lacks edges of the "
            f"{batch_size} copies of the {n_categories}-category, K={k} graph"
        )
    return alpha[found].view(batch_size, n_categories, k, -1)


def gatv2_attend(
    x_l: Tensor,
    x_r: Tensor,
    neighbours: Tensor,
    att: Tensor,
    negative_slope: float,
    dropout: float,
    training: bool,
) -> tuple[Tensor, Tensor]:
    """GATv2's score (Eq. 20), softmax over the K neighbours (Eq. 22) and weighted sum (Eq. 23).

    Returns:
        The attended messages and α (before attention dropout).

    Shapes:
        x_l: [B, C, H, F] (all sources), x_r: [B, c, H, F], neighbours: [c, K], att: [1, H, F]
        → out [B, c, H, F], α [B, c, K, H]
    """
    x_j = x_l[:, neighbours]  # [B, c, K, H, F]
    e = (F.leaky_relu(x_r.unsqueeze(2) + x_j, negative_slope) * att).sum(dim=-1)  # [B, c, K, H]
    alpha = torch.softmax(e, dim=2)  # [B, c, K, H]
    dropped = F.dropout(alpha, p=dropout, training=training)
    return torch.einsum("bckh,bckhf->bchf", dropped, x_j), alpha


# Elements of one chunk's [B, c, K, H, F] block in :class:`LeanGATv2Attention` (4 MB in float32: the block
# and its few temporaries stay in the cores' caches instead of streaming through memory).
LEAN_CHUNK_ELEMENTS = 1 << 20


def _lean_chunks(x_l: Tensor, neighbours: Tensor) -> list[tuple[int, Tensor]]:
    """``(first target, neighbours of the chunk's targets)`` per chunk, sized so that one chunk's
    [B, c, K, H, F] block holds about :data:`LEAN_CHUNK_ELEMENTS` elements."""
    per_target = max(x_l.shape[0] * neighbours.shape[1] * x_l.shape[2] * x_l.shape[3], 1)
    step = max(1, LEAN_CHUNK_ELEMENTS // per_target)
    return [(i, neighbours[i : i + step]) for i in range(0, neighbours.shape[0], step)]


class LeanGATv2Attention(torch.autograd.Function):
    r""":func:`gatv2_attend` without attention dropout, memory-lean: same numbers, hand-written backward.

    The forward runs over chunks of targets and keeps only x_l, x_r and α (no [B, C, K, H, F] block); the
    backward rebuilds each chunk's block and applies, with :math:`z = W_r h_i + W_l h_j`,
    :math:`s = \mathrm{LeakyReLU}(z)`, :math:`g = \partial L / \partial h'_i`:

    .. math::
        \partial \alpha_{ij} = g \cdot x_{l,j}, \quad
        \partial e_{ij} = \alpha_{ij} \big(\partial \alpha_{ij} - \textstyle\sum_k \alpha_{ik}
        \partial \alpha_{ik}\big), \quad
        \partial z_{ij} = \partial e_{ij} \, \mathbf{a} \odot \mathrm{LeakyReLU}'(z_{ij})

    .. math::
        \partial x_{r,i} = \textstyle\sum_j \partial z_{ij}, \quad
        \partial x_{l,j} \mathrel{+}= \alpha_{ij} g + \partial z_{ij}, \quad
        \partial \mathbf{a} = \textstyle\sum_{ij} \partial e_{ij} \, s_{ij}

    Shapes:
        x_l: [B, C, H, F], x_r: [B, C, H, F], neighbours: [C, K], att: [1, H, F]
        → out [B, C, H, F], α [B, C, K, H] (not differentiable)
    """

    @staticmethod
    def forward(ctx, x_l, x_r, neighbours, att, negative_slope):  # noqa: ANN001, ANN205 - autograd API
        # Head-major layout [B, H, C, F]: a chunk's gathered block [B, H, c, K, F] is contiguous, and the
        # score and the weighted sum reduce over its contiguous last dimensions.
        xl, xr = x_l.transpose(1, 2).contiguous(), x_r.transpose(1, 2).contiguous()  # [B, H, C, F]
        att_row = att.view(1, -1, 1, 1, att.shape[-1])  # [1, H, 1, 1, F]
        out, alpha = torch.empty_like(xr), xr.new_empty(*xr.shape[:3], neighbours.shape[1])  # alpha [B,H,C,K]
        for i, nbr in _lean_chunks(x_l, neighbours):
            stop = i + nbr.shape[0]
            x_j = xl.index_select(2, nbr.reshape(-1)).unflatten(2, nbr.shape)  # [B, H, c, K, F]
            z = F.leaky_relu(x_j + xr[:, :, i:stop].unsqueeze(3), negative_slope)
            a = torch.softmax(z.mul_(att_row).sum(dim=-1), dim=-1)  # [B, H, c, K]
            alpha[:, :, i:stop] = a
            out[:, :, i:stop] = (x_j * a.unsqueeze(-1)).sum(dim=3)  # [B, H, c, F]
        ctx.save_for_backward(xl, xr, neighbours, att, alpha)
        ctx.negative_slope = negative_slope
        alpha = alpha.permute(0, 2, 3, 1)  # [B, C, K, H]
        ctx.mark_non_differentiable(alpha)
        return out.transpose(1, 2), alpha

    @staticmethod
    def backward(ctx, grad_out, _grad_alpha):  # noqa: ANN001, ANN205 - autograd API
        xl, xr, neighbours, att, alpha = ctx.saved_tensors  # head-major, see forward
        slope, att_row = ctx.negative_slope, att.view(1, -1, 1, 1, att.shape[-1])  # [1, H, 1, 1, F]
        grad = grad_out.transpose(1, 2)  # [B, H, C, F]
        grad_l, grad_r = torch.zeros_like(xl), torch.empty_like(xr)
        grad_att = xl.new_zeros(1, att.shape[1], 1, att.shape[-1])  # [1, H, 1, F]
        for i, nbr in _lean_chunks(xl.transpose(1, 2), neighbours):
            stop = i + nbr.shape[0]
            x_j = xl.index_select(2, nbr.reshape(-1)).unflatten(2, nbr.shape)  # [B, H, c, K, F]
            z = x_j + xr[:, :, i:stop].unsqueeze(3)
            a, g = alpha[:, :, i:stop], grad[:, :, i:stop]  # [B, H, c, K], [B, H, c, F]
            d_alpha = (x_j * g.unsqueeze(3)).sum(dim=-1)  # [B, H, c, K]
            d_e = a * (d_alpha - (a * d_alpha).sum(dim=-1, keepdim=True))
            s = F.leaky_relu(z, slope)
            grad_att += (s.mul_(d_e.unsqueeze(-1))).sum(dim=(0, 2, 3)).view_as(grad_att)  # Σ ∂e·s
            d_z = (z > 0).to(z.dtype).mul_(1 - slope).add_(slope).mul_(att_row).mul_(d_e.unsqueeze(-1))
            grad_r[:, :, i:stop] = d_z.sum(dim=3)
            d_z += a.unsqueeze(-1) * g.unsqueeze(3)  # + α·g, the message's own gradient
            grad_l.index_add_(2, nbr.reshape(-1), d_z.flatten(2, 3))
        grad_att = grad_att.reshape(att.shape)
        return grad_l.transpose(1, 2), grad_r.transpose(1, 2), None, grad_att, None


@functools.cache
def compiled_gatv2_attend() -> Callable[..., tuple[Tensor, Tensor]]:
    """:func:`gatv2_attend` through ``torch.compile`` (built once per process; shapes are dynamic)."""
    return torch.compile(gatv2_attend, dynamic=True)


class DenseGATv2Conv(nn.Module):
    r"""Multi-head GATv2 layer (Brody et al., 2022) on a fixed-degree graph, Eq. (19)-(23).

    .. math::
        e_{ij}^{(m)} = \mathbf{a}^{(m)\top} \mathrm{LeakyReLU}\left(
            \mathbf{W}_{r}^{(m)} h_i + \mathbf{W}_{l}^{(m)} h_j\right), \qquad
        \alpha_{ij}^{(m)} = \mathrm{softmax}_{j \in \mathcal{N}_i}\left(e_{ij}^{(m)}\right)

    .. math::
        h'_i = \Big\Vert_{m=1}^{H} \sum_{j \in \mathcal{N}_i} \alpha_{ij}^{(m)} \mathbf{W}_{l}^{(m)} h_j
            \;+\; \mathbf{W}_{res} h_i + \mathbf{b}

    :math:`\mathbf{W}_r` is the paper's :math:`\mathbf{W}_{left}` (target i), :math:`\mathbf{W}_l` its
    :math:`\mathbf{W}_{right}` (source j) and also :math:`\mathbf{W}_{out}` (as in GATv2 and PyG). The
    neighbourhood :math:`\mathcal{N}_i` is the K mined neighbours only (no self-loop, as in the paper);
    the learnable skip :math:`\mathbf{W}_{res} h_i` keeps a node's own information.

    Args:
        in_channels: Input feature size.
        out_channels: F, output size per head (the layer outputs H·F).
        heads: H, attention heads (concatenated).
        negative_slope: LeakyReLU slope.
        dropout: Dropout on the attention coefficients.
        chunk_size: Target categories per chunk, or ``None``. When set and gradients are on, each chunk's
            [B, c, K, H, F] intermediates are recomputed in backward (activation checkpointing) instead of
            stored: memory O(B·C·H·F + B·c·K·H·F) instead of O(B·C·K·H·F), for about one extra forward.
        compile_attention: Run :func:`gatv2_attend` through ``torch.compile`` (Inductor): the gather, the
            score, the softmax and the weighted sum become fused loops that need not write the
            [B, C, K, H, F] blocks. Same numbers within float rounding; the first call of each shape
            compiles (about a minute on a 2-core CPU). ``benchmarks/bench_ist.py`` measures it.

    Shapes:
        - **input:** node features :math:`(B, C, F_{in})`, neighbours :math:`(C, K)`
        - **output:** :math:`(B, C, H \cdot F)`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        chunk_size: int | None = None,
        compile_attention: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.negative_slope, self.dropout, self.chunk_size = negative_slope, dropout, chunk_size
        self.compile_attention = compile_attention
        self.lin_l = nn.Linear(in_channels, heads * out_channels)
        self.lin_r = nn.Linear(in_channels, heads * out_channels)
        self.att = nn.Parameter(torch.empty(1, heads, out_channels))
        self.res = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(heads * out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyG's initialisation: glorot weights and attention, uniform(±1/√F_in) linear biases, zero bias."""
        for linear in (self.lin_l, self.lin_r, self.res):
            nn.init.xavier_uniform_(linear.weight)
        for linear in (self.lin_l, self.lin_r):
            bound = 1.0 / math.sqrt(self.in_channels)
            nn.init.uniform_(linear.bias, -bound, bound)
        bound = math.sqrt(6.0 / (self.heads + self.out_channels))
        nn.init.uniform_(self.att, -bound, bound)
        nn.init.zeros_(self.bias)

    def attend(self, x_l: Tensor, x_r: Tensor, neighbours: Tensor) -> tuple[Tensor, Tensor]:
        """Eq. (20), (22) and the sum of Eq. (23) for the targets in ``x_r`` / ``neighbours`` (chunk or all).

        Returns:
            The attended messages and the coefficients α (softmax over K, before attention dropout).

        Shapes:
            x_l: [B, C, H, F] (all sources), x_r: [B, c, H, F], neighbours: [c, K]
            → out [B, c, H, F], α [B, c, K, H]
        """
        attend = compiled_gatv2_attend() if self.compile_attention else gatv2_attend
        return attend(x_l, x_r, neighbours, self.att, self.negative_slope, self.dropout, self.training)

    def _attend_checkpointed(self, x_l: Tensor, x_r: Tensor, neighbours: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`attend` over chunks of ``chunk_size`` targets, each recomputed in backward."""
        step = self.chunk_size
        chunks = [
            checkpoint(self.attend, x_l, x_r[:, i : i + step], neighbours[i : i + step], use_reentrant=False)
            for i in range(0, neighbours.shape[0], step)
        ]
        return torch.cat([out for out, _ in chunks], dim=1), torch.cat([alpha for _, alpha in chunks], dim=1)

    def forward(
        self, x: Tensor, neighbours: Tensor, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend over each node's K neighbours (see the class docstring).

        Args:
            x: Node features.
            neighbours: ``neighbours[i]`` are the K sources j of the edges j → i.
            return_attention: Also return α, the softmax coefficients of Eq. (22) *before* attention
                dropout (in ``eval()`` mode, the weights actually used). ``α[b, i, k, m]`` is how much
                node i attends to ``neighbours[i, k]`` in head m; it sums to 1 over k.

        Returns:
            h' [B, C, H·F], or ``(h', α)`` with α [B, C, K, H] when ``return_attention``.
        """
        B, C, _ = x.shape
        H, F_out = self.heads, self.out_channels
        x_l = self.lin_l(x).view(B, C, H, F_out)  # source / message projection
        x_r = self.lin_r(x).view(B, C, H, F_out)  # target projection
        if self.chunk_size is None or not torch.is_grad_enabled():
            out, alpha = self.attend(x_l, x_r, neighbours)
        else:
            out, alpha = self._attend_checkpointed(x_l, x_r, neighbours)
        out = out.reshape(B, C, H * F_out) + self.res(x) + self.bias
        return (out, alpha) if return_attention else out

    def projections(self, x: Tensor, before: nn.Linear | None = None) -> tuple[Tensor, Tensor, Tensor]:
        r"""``lin_l``, ``lin_r`` and ``res`` of ``x`` in one matmul: :math:`(x_l, x_r, \mathbf{W}_{res} x)`.

        With ``before``, a linear map applied to ``x`` first (IST's ``FFN_in.fc2``), the two are composed:
        :math:`W (A x + a) = (W A) x + W a` costs 3·H·F·F_a·F_in once instead of N·F_a·F_in for the N = B·C
        rows. Always, whatever N, so that an image's scores do not depend on the batch it came in.

        Shapes:
            x: [B, C, F_in] (or [B, C, F_a] with ``before``: F_a → F_in) → 3 × [B, C, H·F]
        """
        weight = torch.cat([self.lin_l.weight, self.lin_r.weight, self.res.weight])  # [3·H·F, F_in]
        bias = torch.cat([self.lin_l.bias, self.lin_r.bias, torch.zeros_like(self.bias)])
        if before is not None:
            weight, bias = weight @ before.weight, torch.addmv(bias, weight, before.bias)
        return F.linear(x, weight, bias).chunk(3, dim=-1)

    def forward_lean(
        self, x: Tensor, neighbours: Tensor, before: nn.Linear | None = None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward`'s numbers (with α) through :meth:`projections` and :class:`LeanGATv2Attention`
        (the dense formula when attention dropout is active, which the lean attention does not do).

        Shapes:
            x: [B, C, F_in] (``before``: see :meth:`projections`), neighbours: [C, K]
            → h' [B, C, H·F], α [B, C, K, H]
        """
        B, C = x.shape[:2]
        x_l, x_r, res = self.projections(x, before)
        x_l, x_r = x_l.view(B, C, self.heads, -1), x_r.view(B, C, self.heads, -1)
        if self.training and self.dropout > 0:
            out, alpha = self.attend(x_l, x_r, neighbours)
        else:
            out, alpha = LeanGATv2Attention.apply(x_l, x_r, neighbours, self.att, self.negative_slope)
        return out.reshape(B, C, -1) + res + self.bias, alpha

    def extra_repr(self) -> str:
        slope = self.negative_slope
        return f"{self.in_channels}, {self.out_channels}, heads={self.heads}, negative_slope={slope}"
