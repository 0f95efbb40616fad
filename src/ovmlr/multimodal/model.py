r"""CSCF step 1: align each modality's features to the shared class-text space (our reading of the abstract).

Each modality m has an aligner :math:`g_m`: an MLP from its feature space (dimension :math:`D_m`) to the
text space (dimension :math:`D`). When :math:`D_m = D` the aligner is residual, :math:`g_m(x) = x + f_m(x)`
with the last layer of :math:`f_m` started at zero, so training starts from the zero-shot cosine of features
that already live in a CLIP-like space (the project's image features, text-tower features of a caption);
otherwise it is a plain MLP. A modality's score for category c is the cosine with the category's prompt-
ensemble text feature :math:`t_c`:

.. math::
    s_{m,c}(x) = \cos(g_m(x_m), t_c)  \quad(\text{or PICO's weighted cosine})

so a modality scores *every* category of the vocabulary — its own set :math:`C_m`, the other modalities'
categories and the unseen ones — although it is trained on :math:`C_m` only.

CAL's Asymmetric Information Bottleneck (:mod:`ovmlr.multimodal.balancing`) needs a stochastic feature: with
``bottleneck=True`` the hidden layer gives a mean and log-variance, :math:`z = \mu + \sigma \odot \epsilon`
while training (:math:`z = \mu` in eval mode), and the KL to :math:`N(0, I)` is returned beside the output.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovmlr.alignment.pico import weighted_cosine

INITIAL_LOG_VAR = -6.0


class ModalityAligner(nn.Module):
    """:math:`g_m`: features of one modality → the text space (residual when the dimensions agree).

    Args:
        in_dim: :math:`D_m`.
        out_dim: :math:`D`, the text features' dimension.
        hidden: Hidden width of :math:`f_m`.
        dropout: Dropout on the hidden layer.
        bottleneck: Variational hidden layer (CAL's AIB); otherwise deterministic.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float, bottleneck: bool) -> None:
        super().__init__()
        self.residual = in_dim == out_dim
        self.bottleneck = bottleneck
        self.encode = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout)
        )
        self.log_var = nn.Linear(hidden, hidden) if bottleneck else None
        self.out = nn.Linear(hidden, out_dim)
        if self.log_var is not None:  # start nearly deterministic (σ ≈ 0.05); the KL term opens it up
            nn.init.zeros_(self.log_var.weight)
            nn.init.constant_(self.log_var.bias, INITIAL_LOG_VAR)
        if self.residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Aligned features and the bottleneck's KL per sample (zeros without a bottleneck).

        .. math::
            KL = \\tfrac12 \\sum_j (\\mu_j^2 + \\sigma_j^2 - \\log \\sigma_j^2 - 1)

        Shapes:
            x: [B, D_m] → aligned [B, D], kl [B]
        """
        mu = self.encode(x)  # [B, H]
        if self.log_var is None:
            hidden, kl = mu, mu.new_zeros(len(x))
        else:
            log_var = self.log_var(mu).clamp(-8.0, 8.0)  # [B, H]
            kl = 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1.0).sum(dim=1)
            hidden = mu + (0.5 * log_var).exp() * torch.randn_like(mu) if self.training else mu
        aligned = self.out(hidden)
        return (x + aligned if self.residual else aligned), kl


class MultimodalAligner(nn.Module):
    """One :class:`ModalityAligner` per modality (an ``nn.ModuleDict`` in the modalities' order).

    Args:
        dims: modality → :math:`D_m`.
        text_dim: :math:`D`.
        hidden, dropout, bottleneck: as :class:`ModalityAligner` (``bottleneck``: modality → bool).
    """

    def __init__(
        self,
        dims: Mapping[str, int],
        text_dim: int,
        hidden: int,
        dropout: float,
        bottleneck: Mapping[str, bool] | None = None,
    ) -> None:
        super().__init__()
        flags = dict(bottleneck or {})
        self.aligners = nn.ModuleDict(
            {m: ModalityAligner(d, text_dim, hidden, dropout, flags.get(m, False)) for m, d in dims.items()}
        )

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names."""
        return tuple(self.aligners)

    def forward(
        self, features: Mapping[str, Tensor], text: Tensor, weights: Mapping[str, Tensor] | None = None
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Every modality's category scores and bottleneck KL.

        Args:
            features: modality → [B, D_m].
            text: L2-normalised category text features [C, D].
            weights: modality → PICO weights [D] (``None``: the plain cosine).

        Shapes:
            → scores: modality → [B, C] in [-1, 1]; kl: modality → [B]
        """
        scores, kls = {}, {}
        for modality, aligner in self.aligners.items():
            aligned, kls[modality] = aligner(features[modality])
            weight = None if weights is None else weights.get(modality)
            scores[modality] = (
                F.normalize(aligned, dim=-1) @ text.T
                if weight is None
                else weighted_cosine(aligned, text, weight)
            )
        return scores, kls

    def align(self, modality: str, features: Tensor) -> Tensor:
        """The aligned (un-normalised) features of one modality, for PICO's fit. Shapes: [B, D_m] → [B, D]."""
        return self.aligners[modality](features)[0]
