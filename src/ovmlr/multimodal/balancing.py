r"""Balancing the modalities while they train jointly: OGM-GE (suppression) and CAL (our reading of it).

Both act on the joint training of :mod:`ovmlr.multimodal.training`, whose loss is the fused ranking loss
plus each modality's own ranking loss on its set :math:`C_m`.

**OGM-GE** (Peng et al., CVPR 2022), adapted to multi-label: a modality's *score* on a batch is the mean,
over samples, of the softmax mass (temperature :math:`\kappa`) its scores put on the sample's positives among
the categories every modality trains on (:math:`\cap_m C_m`; all of a modality's categories when the sets
share none). With :math:`\rho_m` = its score over the mean of the others', the dominant modality's encoder
step size is multiplied by :math:`k_m = 1 - \tanh(\alpha(\rho_m - 1))` when :math:`\rho_m > 1` (else 1;
OGM-GE scales the gradients of SGD; under Adam a gradient scale cancels, so the factor goes on the learning
rate, :func:`set_learning_rates`), and Gaussian noise with the gradient's own standard deviation is added
(*generalisation enhancement*).

**CAL** (seed ``003``, abstract only). The contribution of modality m on a batch is
:math:`W^m = I(m) \cdot D(m)`:

* **information quantity** :math:`I(m) = \max(0, L_{fuse}(\text{without } m) - L_{fuse}) + \epsilon`, the
  marginal gain of the fused prediction when m is present vs removed (removed: its scores replaced by 0, the
  cosine of an uninformative feature);
* **confidence** :math:`D(m) = 1 - \overline{H}(\mathrm{softmax}(\kappa s_m|_{C_m})) / \log |C_m|`, one minus
  the mean normalised entropy of its distribution over its own categories.

It is computed per training step on the batch (detached) and smoothed across steps by an exponential moving
average (``momentum``), so one noisy batch does not flip the roles. From the normalised contributions
:math:`\tilde W^m = W^m / \sum_j W^j`:

* **asymmetric gradient acceleration**: :math:`a_m = \max(1, M\, \mathrm{softmax}(\tilde W / \tau)_m)`
  multiplies modality m's step (its learning rate, as for OGM-GE): the high-contribution modality is
  *accelerated* (> 1), the others are left at 1, never suppressed (CAL's point against OGM-GE);
* **asymmetric information bottleneck**: every modality's aligner has a variational hidden layer, and its
  KL term enters the loss with weight :math:`\beta_m = \beta (1 - \tilde W^m)`, rising as the contribution
  falls, so the weak (often noisy) modality is compressed hardest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

BALANCING = ("none", "ogm_ge", "cal")
_EPS = 1e-6


def positive_mass(scores: Tensor, labels: Tensor, columns: Tensor, temperature: float) -> Tensor:
    r"""Mean over samples of the softmax mass on the positives among ``columns`` (OGM-GE's score).

    Samples without a positive there count 0. Shapes: scores [B, C], labels [B, C], columns [C] bool → []
    """
    prob = torch.softmax(temperature * scores[:, columns], dim=1)  # [B, C']
    return (prob * (labels[:, columns] == 1)).sum(dim=1).mean()


def ogm_ge_coefficients(score: Mapping[str, float], alpha: float) -> dict[str, float]:
    r""":math:`k_m = 1 - \tanh(\alpha(\rho_m - 1))` if :math:`\rho_m > 1` else 1.

    :math:`\rho_m = s_m / \overline{s_{-m}}`, the score over the mean of the other modalities'.
    """
    out = {}
    for modality, value in score.items():
        others = [v for m, v in score.items() if m != modality]
        ratio = value / max(sum(others) / len(others), _EPS)
        out[modality] = 1.0 - float(torch.tanh(torch.tensor(alpha * (ratio - 1.0)))) if ratio > 1 else 1.0
    return out


def normalised_entropy(scores: Tensor, columns: Tensor, temperature: float) -> Tensor:
    """Mean over samples of H(softmax(κ s|columns)) / log |columns|. Shapes: [B, C], [C] bool → []."""
    count = int(columns.sum())
    if count < 2:
        return scores.new_zeros(())
    prob = torch.softmax(temperature * scores[:, columns], dim=1)
    entropy = -(prob * prob.clamp_min(1e-30).log()).sum(dim=1)
    return (entropy / torch.log(torch.tensor(float(count)))).mean()


def contributions(information: Mapping[str, float], confidence: Mapping[str, float]) -> dict[str, float]:
    """:math:`W^m = I(m) D(m)`."""
    return {m: float(information[m]) * float(confidence[m]) for m in information}


def normalised(values: Mapping[str, float]) -> dict[str, float]:
    """:math:`\\tilde W^m = W^m / \\sum_j W^j` (uniform when all are 0)."""
    total = sum(values.values())
    if total <= 0:
        return {m: 1.0 / len(values) for m in values}
    return {m: v / total for m, v in values.items()}


def acceleration(shares: Mapping[str, float], temperature: float) -> dict[str, float]:
    r""":math:`a_m = \max(1, M\,\mathrm{softmax}(\tilde W/\tau)_m)`: only the strong modality speeds up."""
    if temperature <= 0:
        raise ValueError(f"multimodal.training.cal.temperature must be > 0, got {temperature}")
    names = list(shares)
    soft = torch.softmax(torch.tensor([shares[m] for m in names], dtype=torch.float64) / temperature, dim=0)
    return {m: max(1.0, len(names) * float(p)) for m, p in zip(names, soft, strict=True)}


def bottleneck_weights(shares: Mapping[str, float], beta: float) -> dict[str, float]:
    r""":math:`\beta_m = \beta (1 - \tilde W^m)`: the lower the contribution, the stronger the compression."""
    return {m: beta * (1.0 - s) for m, s in shares.items()}


def set_learning_rates(
    optimiser: torch.optim.Optimizer, base_lr: float, factors: Mapping[str, float]
) -> None:
    """Each modality's parameter group gets ``base_lr × factor`` (1 for a modality without a factor).

    The balancing factors act on the step size, not on the gradients: Adam divides a gradient by its own
    running scale, so multiplying the gradients by a constant would change nothing (measured: 200 AdamW steps
    with gradients × 1.97 end within 4e-8 of the unscaled run). For SGD both are the same.
    """
    for group in optimiser.param_groups:
        group["lr"] = base_lr * factors.get(group["modality"], 1.0)


def gradient_noise(modules: Mapping[str, nn.Module], generator: torch.Generator | None = None) -> None:
    """OGM-GE's generalisation enhancement: add N(0, std(grad)²) to every gradient."""
    for module in modules.values():
        for param in module.parameters():
            if param.grad is not None and param.grad.numel() > 1:
                param.grad.add_(torch.randn(param.grad.shape, generator=generator) * param.grad.std())


def shared_columns(member: Sequence[Tensor]) -> Tensor:
    """The categories every modality trains on; all trained categories when they share none. [C] bool."""
    shared = torch.stack(list(member)).all(dim=0)
    return shared if shared.any() else torch.stack(list(member)).any(dim=0)
