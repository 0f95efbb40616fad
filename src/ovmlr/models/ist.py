r"""Inter-category semantic transfer (IST), Sec. 3.4, Eq. (6)-(9) and Supplement B.1 (Eq. 17-23).

Each image gets its own copy of the category graph: node c starts from
:math:`h_0^{(c)} = FFN_{in}([f_{img}^{(c)} \Vert f_{txt}^{(c)}])` (Eq. 6) and ``layers`` multi-head GATv2
layers pass information along the mined edges j → i (j one of the K related seen categories of i).

Design choices (the paper leaves them open):

* **No self-loops** in the attention (the paper's :math:`\mathcal{N}_i` holds only the mined neighbours;
  PyG's default ``add_self_loops=True`` is turned off in both implementations). Without a self term a node
  would forget its own image evidence, so every layer has PyG's learnable skip ``residual=True``
  (:math:`+ \mathbf{W}_{res} h_i`): the attention decides what to borrow from the neighbours, the skip keeps
  what the node already knows.
* ELU and dropout between layers (σ of Eq. 23); the last layer is linear, so :math:`h_l` can align with text
  features of either sign. Hidden layers output ``hidden_dim`` (H heads of hidden_dim / H), the last layer
  ``embed_dim`` (H heads of D / H).
* ``implementation="dense"`` gathers the K neighbours; ``"pyg"`` runs ``GATv2Conv`` over the
  B disjoint graph copies. Both have identical parameters (``tests/models/test_ist.py`` checks they agree).
* ``implementation="lean"`` (default) has the same parameters and numbers, and does per image what does not
  depend on the category: :math:`f_{img}^{(c)}` is a mixture of the image's P patch features and its global
  feature (ISR's pooling, :class:`MixedFeatures`), so FFN_in's first map is applied to the P patches once per
  image and mixed (B·P·D·F + B·C·P·F operations instead of B·C·D·F). ``FFN_in.fc2`` is composed with the
  first GAT layer's three maps (no non-linearity between them), each layer's three maps run as one matmul,
  and the attention keeps no [B, C, K, H, F] block (:class:`~ovmlr.models.gatv2.LeanGATv2Attention`).
  ``dense`` and ``pyg`` stay as the references it is tested against, forward and backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv

from ovmlr.models.config import ISTConfig
from ovmlr.models.gatv2 import DenseGATv2Conv, batched_edge_index, dense_edge_attention


@dataclass(frozen=True)
class MixedFeatures:
    r"""Per-category image features kept as a mixture of per-image features:
    :math:`f[b, c] = \sum_p w[b, c, p] \, x[b, p] + g[b]`.

    C²SRT's :math:`f_{img}^{(c)} = (f_L^{(c)} + f_G) / 2` is one: ISR's :math:`f_L^{(c)}` pools the P patch
    features (Eq. 5, then L2-normalised, a per-category scale folded into w). A linear map W of it is then
    :math:`w (x W^\top) + g W^\top`: W runs on the P patches once per image instead of on C categories.

    Shapes:
        patches: [B, P, D], weights: [B, C, P], shared: [B, D]
    """

    patches: Tensor
    weights: Tensor
    shared: Tensor

    def dense(self) -> Tensor:
        """The features themselves. Shapes: → [B, C, D]"""
        return torch.baddbmm(self.shared.unsqueeze(1), self.weights, self.patches)

    def linear(self, weight: Tensor) -> Tensor:
        """``F.linear(self.dense(), weight)``, per image when that is cheaper (P < D).

        Shapes:
            weight: [F, D] → [B, C, F]
        """
        if self.patches.shape[1] >= self.patches.shape[2]:
            return F.linear(self.dense(), weight)
        projected = F.linear(self.patches, weight)  # [B, P, F], once per image
        return torch.baddbmm(F.linear(self.shared, weight).unsqueeze(1), self.weights, projected)


def _make_layer(config: ISTConfig, in_channels: int, out_channels: int) -> nn.Module:
    """One GATv2 layer of the configured implementation, ``config.heads`` heads of ``out_channels / H``."""
    per_head = out_channels // config.heads
    if config.implementation == "pyg":
        return GATv2Conv(
            in_channels,
            per_head,
            heads=config.heads,
            negative_slope=config.negative_slope,
            dropout=config.attention_dropout,
            add_self_loops=False,
            residual=True,
        )
    return DenseGATv2Conv(
        in_channels,
        per_head,
        config.heads,
        config.negative_slope,
        config.attention_dropout,
        config.chunk_size,
        config.compile,
    )


class IST(nn.Module):
    r"""Inter-category semantic transfer: FFN_in (Eq. 6) then ``layers`` GATv2 layers (Eq. 19-23).

    Args:
        config: Layers, heads, hidden size, dropout and implementation.
        embed_dim: D, size of the image/text features and of the output.

    Shapes:
        - **input:** :math:`f_{img}` :math:`(B, C, D)`, :math:`f_{txt}` :math:`(C, D)`,
          neighbours :math:`(C, K)` (long, indices into the same C categories)
        - **output:** :math:`h_l` :math:`(B, C, D)`
    """

    def __init__(self, config: ISTConfig, embed_dim: int) -> None:
        super().__init__()
        self.config, self.embed_dim = config, embed_dim
        self.ffn_in = nn.ModuleDict(
            {
                "fc1": nn.Linear(2 * embed_dim, config.hidden_dim),
                "fc2": nn.Linear(config.hidden_dim, config.hidden_dim),
            }
        )
        widths = [config.hidden_dim] * config.layers + [embed_dim]
        self.layers = nn.ModuleList(
            _make_layer(config, widths[i], widths[i + 1]) for i in range(config.layers)
        )

    def initial_features(self, image_feats: Tensor | MixedFeatures, text_feats: Tensor) -> Tensor:
        r""":math:`h_0 = FFN_{in}([f_{img} \Vert f_{txt}])`, Eq. (6).

        Shapes:
            image_feats: [B, C, D] (or :class:`MixedFeatures`), text_feats: [C, D] → [B, C, hidden_dim]
        """
        return self.ffn_in["fc2"](self.ffn_hidden(image_feats, text_feats))

    def ffn_hidden(self, image_feats: Tensor | MixedFeatures, text_feats: Tensor) -> Tensor:
        r"""FFN_in's hidden layer, :math:`\mathrm{GELU}(\mathbf{W}_1 [f_{img} \Vert f_{txt}] + b_1)`
        (dropout in training).

        The first linear map of the concatenation is applied as ``W_img f_img + (W_txt f_txt + b)`` so the
        text half is computed once per category instead of materialising a [B, C, 2D] tensor, and the image
        half once per image when ``image_feats`` are :class:`MixedFeatures`.

        Shapes:
            image_feats: [B, C, D] (or :class:`MixedFeatures`), text_feats: [C, D] → [B, C, hidden_dim]
        """
        fc1 = self.ffn_in["fc1"]
        w_img, w_txt = fc1.weight[:, : self.embed_dim], fc1.weight[:, self.embed_dim :]
        if isinstance(image_feats, MixedFeatures):
            image_part = image_feats.linear(w_img)  # [B, C, hidden]
        else:
            image_part = F.linear(image_feats, w_img)  # [B, C, hidden]
        h = image_part + F.linear(text_feats, w_txt, fc1.bias)  # [B, C, hidden]
        return F.dropout(F.gelu(h), p=self.config.dropout, training=self.training)

    def forward(
        self,
        image_feats: Tensor | MixedFeatures,
        text_feats: Tensor,
        neighbours: Tensor,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Refined node features :math:`h_l` (see the class docstring for shapes).

        Args:
            image_feats: :math:`f_{img}`, one feature per image and category (or their
                :class:`MixedFeatures`; the ``dense`` and ``pyg`` references materialise them first).
            text_feats: :math:`f_{txt}`, one feature per category.
            neighbours: ``neighbours[i]`` are the K categories whose information flows into category i.
            return_attention: Also return each layer's attention coefficients α (Eq. 22; the paper's
                Fig. 7), ``α[b, i, k, m]`` = how much category i attends to ``neighbours[i, k]`` in head m of
                image b; it sums to 1 over k. The dense and lean layers give α before attention dropout,
                PyG's after it; in ``eval()`` mode (no dropout) they agree.

        Returns:
            :math:`h_l`, or ``(h_l, [α per layer])`` when ``return_attention``.

        Shapes:
            image_feats: [B, C, D], text_feats: [C, D], neighbours: [C, K] → [B, C, D] (and L × [B, C, K, H])
        """
        if self.config.implementation == "lean":
            return self.forward_lean(image_feats, text_feats, neighbours, return_attention)
        if isinstance(image_feats, MixedFeatures):
            image_feats = image_feats.dense()
        h = self.initial_features(image_feats, text_feats)
        edge_index = (
            batched_edge_index(neighbours, h.shape[0]) if self.config.implementation == "pyg" else None
        )
        attention = []
        for i, layer in enumerate(self.layers):
            h, alpha = self.propagate(layer, h, neighbours, edge_index, return_attention)
            attention.append(alpha)
            if i < len(self.layers) - 1:
                h = F.dropout(F.elu(h), p=self.config.dropout, training=self.training)
        return (h, attention) if return_attention else h

    def forward_lean(
        self,
        image_feats: Tensor | MixedFeatures,
        text_feats: Tensor,
        neighbours: Tensor,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """:meth:`forward` of ``implementation="lean"``: FFN_in's hidden layer (per image where it can be),
        ``fc2`` composed into the first layer's maps, each layer through
        :meth:`~ovmlr.models.gatv2.DenseGATv2Conv.forward_lean`.

        Shapes:
            as :meth:`forward`
        """
        h, before = self.ffn_hidden(image_feats, text_feats), self.ffn_in["fc2"]  # [B, C, hidden]
        attention = []
        for i, layer in enumerate(self.layers):
            h, alpha = layer.forward_lean(h, neighbours, before)
            attention.append(alpha if return_attention else None)
            before = None
            if i < len(self.layers) - 1:
                h = F.dropout(F.elu(h), p=self.config.dropout, training=self.training)
        return (h, attention) if return_attention else h

    def propagate(
        self,
        layer: nn.Module,
        h: Tensor,
        neighbours: Tensor,
        edge_index: Tensor | None,
        return_attention: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """One GATv2 layer (Eq. 19-23) of either implementation, and its α when ``return_attention``.

        The dense layer takes ``neighbours``; PyG's takes ``edge_index`` (:func:`batched_edge_index`, the B
        disjoint graph copies, ``None`` for the dense layer) and returns α per edge, which
        :func:`dense_edge_attention` puts back in the dense layout.

        Shapes:
            h: [B, C, F_in], neighbours: [C, K], edge_index: [2, B·C·K] → [B, C, F_out], α [B, C, K, H]
        """
        if edge_index is None:
            out, alpha = layer(h, neighbours, return_attention=True)
            return out, alpha if return_attention else None
        batch, n_categories = h.shape[:2]
        out = layer(
            h.reshape(batch * n_categories, -1), edge_index, return_attention_weights=return_attention
        )
        if not return_attention:
            return out.view(batch, n_categories, -1), None
        out, (returned_edges, alpha) = out
        return out.view(batch, n_categories, -1), dense_edge_attention(
            returned_edges, alpha, neighbours, batch
        )

    def extra_repr(self) -> str:
        c = self.config
        return f"{c.implementation}, layers={c.layers}, heads={c.heads}, hidden_dim={c.hidden_dim}"
