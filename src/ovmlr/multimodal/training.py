r"""Joint training of the modality aligners under heterogeneous category sets, with optional balancing.

Loss on a batch (labels 1 / 0 / -1 unknown; unseen categories are always unknown):

.. math::
    L = L_{rank}(f, y_{\cup}) + \lambda_{uni} \sum_m L_{rank}(s_m, y|_{C_m}) + \sum_m \beta_m KL_m

where :math:`s_m` are modality m's cosines (:mod:`ovmlr.multimodal.model`), :math:`y|_{C_m}` keeps only its
own categories (the MMHCL setting: modality m never sees a label outside :math:`C_m`), and the fused training
score :math:`f_c` is the mean of :math:`s_{m,c}` over the modalities whose set holds c — so a category still
reaches only the modalities trained on it. :math:`L_{rank}` is the project's pairwise ranking loss (Eq. 11).
``balancing``: ``none`` (plain joint training), ``ogm_ge`` or ``cal`` (:mod:`ovmlr.multimodal.balancing`;
the KL term is CAL's bottleneck and is absent otherwise). The epoch kept is the one with the best mean
average precision over the trained (seen) categories on the validation split, scored by the late mean of
the modalities.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ovmlr.core.params import known_fields
from ovmlr.metrics import mean_average_precision
from ovmlr.models.losses import ranking_loss

from .balancing import (
    BALANCING,
    acceleration,
    bottleneck_weights,
    contributions,
    gradient_noise,
    normalised,
    normalised_entropy,
    ogm_ge_coefficients,
    positive_mass,
    set_learning_rates,
    shared_columns,
)
from .data import CategorySets, ModalityBatch, modality_labels
from .fusion import late_fusion
from .model import MultimodalAligner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultimodalTrainingConfig:
    """Hyper-parameters of :func:`train_aligners` (``multimodal.training`` in the parameters)."""

    balancing: str = "none"
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 512
    dropout: float = 0.1
    margin: float = 1.0
    unimodal_weight: float = 1.0  # λ_uni
    seed: int = 0
    ogm_ge: dict[str, float] = field(default_factory=lambda: {"alpha": 0.5, "temperature": 10.0})
    cal: dict[str, float] = field(
        default_factory=lambda: {
            "beta": 1e-5,
            "temperature": 0.1,
            "momentum": 0.9,
            "confidence_temperature": 10.0,
        }
    )

    def __post_init__(self) -> None:
        if self.balancing not in BALANCING:
            raise ValueError(
                f"multimodal.training.balancing must be one of {BALANCING}, got {self.balancing!r}"
            )
        for name in ("epochs", "batch_size", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"multimodal.training.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"multimodal.training.lr must be > 0, got {self.lr}")
        for group, keys in (
            ("ogm_ge", ("alpha", "temperature")),
            ("cal", ("beta", "temperature", "momentum", "confidence_temperature")),
        ):
            missing = sorted(set(keys) - set(getattr(self, group)))
            unknown = sorted(set(getattr(self, group)) - set(keys))
            if missing or unknown:
                raise ValueError(
                    f"multimodal.training.{group} needs keys {list(keys)}; "
                    f"missing {missing}, unknown {unknown}"
                )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MultimodalTrainingConfig:
        """Build from ``multimodal.training``; unknown keys are an error naming them."""
        return cls(**known_fields(params, cls.__dataclass_fields__, "multimodal.training"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return asdict(self)


def fused_training_scores(scores: Mapping[str, Tensor], member: Mapping[str, Tensor]) -> Tensor:
    """:math:`f_c` = mean of :math:`s_{m,c}` over the modalities whose set holds c (0 where none does).

    Shapes: modality → [B, C], modality → [C] bool → [B, C]
    """
    names = list(scores)
    mask = torch.stack([member[m] for m in names]).to(scores[names[0]].dtype)[:, None, :]  # [M, 1, C]
    stack = torch.stack([scores[m] for m in names])  # [M, B, C]
    return (stack * mask).sum(dim=0) / mask.sum(dim=0).clamp_min(1.0)


def _tensors(batch: ModalityBatch, rows: np.ndarray) -> dict[str, Tensor]:
    return {m: torch.from_numpy(f[rows]) for m, f in batch.features.items()}


@torch.no_grad()
def modality_scores(
    aligner: MultimodalAligner,
    batch: ModalityBatch,
    text: np.ndarray,
    weights: Mapping[str, Tensor] | None = None,
    chunk: int = 2048,
) -> dict[str, np.ndarray]:
    """Every modality's cosines over the vocabulary, in eval mode. modality → float32 [N, C]."""
    aligner.eval()
    text_t = torch.from_numpy(text)
    out: dict[str, list[np.ndarray]] = {m: [] for m in batch.modalities}
    for start in range(0, len(batch), chunk):
        rows = np.arange(start, min(start + chunk, len(batch)))
        scores, _ = aligner(_tensors(batch, rows), text_t, weights)
        for m, s in scores.items():
            out[m].append(s.numpy())
    return {m: np.concatenate(parts).astype(np.float32) for m, parts in out.items()}


def seen_map(
    scores: Mapping[str, np.ndarray], batch: ModalityBatch, labels: np.ndarray, seen: np.ndarray
) -> float:
    """Validation criterion: mAP over the seen categories of the late mean of the modalities."""
    fused = late_fusion(scores, batch.present, "mean")
    return mean_average_precision(fused[:, seen], labels[:, seen])


@dataclass
class TrainingOutcome:
    """What :func:`train_aligners` returns: the best epoch's aligner, its epoch and the per-epoch history."""

    aligner: MultimodalAligner
    best_epoch: int
    history: list[dict[str, float]]


class _CALState:
    """Exponential moving averages of the per-modality contributions across steps."""

    def __init__(self, names: list[str], momentum: float) -> None:
        self.momentum = momentum
        self.values: dict[str, float] | None = None
        self.names = names

    def update(self, current: Mapping[str, float]) -> dict[str, float]:
        if self.values is None:
            self.values = dict(current)
        else:
            self.values = {
                m: self.momentum * self.values[m] + (1 - self.momentum) * current[m] for m in self.names
            }
        return dict(self.values)


def _cal_contribution(
    scores: Mapping[str, Tensor],
    member: Mapping[str, Tensor],
    fused_labels: Tensor,
    fused_loss: Tensor,
    margin: float,
    temperature: float,
) -> dict[str, float]:
    """:math:`W^m = I(m) D(m)` on one batch (detached)."""
    information, confidence = {}, {}
    with torch.no_grad():
        for m in scores:
            removed = {k: (torch.zeros_like(v) if k == m else v.detach()) for k, v in scores.items()}
            without = ranking_loss(fused_training_scores(removed, member), fused_labels, margin)
            information[m] = max(0.0, float(without - fused_loss.detach())) + 1e-6
            confidence[m] = 1.0 - float(normalised_entropy(scores[m].detach(), member[m], temperature))
    return contributions(information, confidence)


def _private_seed(function: Callable[..., TrainingOutcome]) -> Callable[..., TrainingOutcome]:
    """Run ``function`` on a private global RNG stream seeded with its ``config.seed`` (dropout and the
    bottleneck's sampling draw from it), leaving the caller's stream as it was."""

    @functools.wraps(function)
    def seeded(*args: Any, **kwargs: Any) -> TrainingOutcome:
        config = kwargs["config"] if "config" in kwargs else args[-1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            return function(*args, **kwargs)

    return seeded


@dataclass
class _Loop:
    """What every step of ``train_aligners`` reads: the model, its optimiser and the label tensors."""

    config: MultimodalTrainingConfig
    aligner: MultimodalAligner
    optimiser: torch.optim.Optimizer
    generator: torch.Generator
    text: Tensor  # [C, D]
    member: dict[str, Tensor]  # modality -> bool [C]
    fused_labels: Tensor  # int64 [N, C], unseen columns -1
    unimodal_labels: dict[str, Tensor]  # modality -> int64 [N, C]
    shared: Tensor  # bool [C]: the categories every modality has
    cal_state: _CALState

    @property
    def names(self) -> list[str]:
        return list(self.member)


def _make_loop(
    train: ModalityBatch,
    train_labels: np.ndarray,
    text: np.ndarray,
    sets: CategorySets,
    config: MultimodalTrainingConfig,
) -> _Loop:
    """The aligner (one parameter group per modality: the balancing factors act on each modality's step
    size), its optimiser and the training label tensors."""
    names = list(train.modalities)
    dims = {m: train.features[m].shape[1] for m in names}
    aligner = MultimodalAligner(
        dims, text.shape[1], config.hidden, config.dropout, {m: config.balancing == "cal" for m in names}
    )
    optimiser = torch.optim.AdamW(
        [{"params": aligner.aligners[m].parameters(), "modality": m} for m in names],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    member = {m: torch.from_numpy(sets.member[m]) for m in names}
    return _Loop(
        config=config,
        aligner=aligner,
        optimiser=optimiser,
        generator=torch.Generator().manual_seed(config.seed),
        text=torch.from_numpy(text),
        member=member,
        fused_labels=torch.from_numpy(np.where(~sets.unseen[None, :], train_labels, -1).astype(np.int64)),
        unimodal_labels={
            m: torch.from_numpy(modality_labels(train_labels, sets.member[m]).astype(np.int64)) for m in names
        },
        shared=shared_columns([member[m] for m in names]),
        cal_state=_CALState(names, config.cal["momentum"]),
    )


def _balancing(
    loop: _Loop, scores: dict[str, Tensor], kls: dict[str, Tensor], fused_labels: Tensor, fused_loss: Tensor
) -> tuple[Tensor | float, dict[str, float], dict[str, float]]:
    """``(extra loss, per-modality step-size factors, CAL's shares)`` of the configured balancing."""
    config, names = loop.config, loop.names
    if config.balancing == "cal":
        contribution = _cal_contribution(
            scores, loop.member, fused_labels, fused_loss, config.margin, config.cal["confidence_temperature"]
        )
        shares = normalised(loop.cal_state.update(contribution))
        betas = bottleneck_weights(shares, config.cal["beta"])
        extra = sum(betas[m] * kls[m].mean() for m in names)
        return extra, acceleration(shares, config.cal["temperature"]), shares
    if config.balancing == "ogm_ge":
        with torch.no_grad():
            mass = {
                m: float(positive_mass(scores[m], fused_labels, loop.shared, config.ogm_ge["temperature"]))
                for m in names
            }
        return 0.0, ogm_ge_coefficients(mass, config.ogm_ge["alpha"]), {}
    return 0.0, {}, {}


def _train_epoch(loop: _Loop, train: ModalityBatch) -> dict[str, float]:
    """One pass over ``train`` in a seeded order; the mean loss, CAL shares and step-size factors."""
    config, names = loop.config, loop.names
    loop.aligner.train()
    order = torch.randperm(len(train), generator=loop.generator).numpy()
    totals: dict[str, float] = {"loss": 0.0}
    steps = 0
    for start in range(0, len(order), config.batch_size):
        rows = order[start : start + config.batch_size]
        scores, kls = loop.aligner(_tensors(train, rows), loop.text)
        fused_labels = loop.fused_labels[rows]
        fused_loss = ranking_loss(fused_training_scores(scores, loop.member), fused_labels, config.margin)
        loss = fused_loss + config.unimodal_weight * sum(
            ranking_loss(scores[m], loop.unimodal_labels[m][rows], config.margin) for m in names
        )
        extra, factors, shares = _balancing(loop, scores, kls, fused_labels, fused_loss)
        loss = loss + extra
        loop.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if config.balancing == "ogm_ge":
            gradient_noise(loop.aligner.aligners, loop.generator)
        set_learning_rates(loop.optimiser, config.lr, factors)
        loop.optimiser.step()
        for key, value in (
            [("loss", float(loss.detach()))]
            + [(f"share/{m}", v) for m, v in shares.items()]
            + [(f"factor/{m}", v) for m, v in factors.items()]
        ):
            totals[key] = totals.get(key, 0.0) + value
        steps += 1
    return {key: value / steps for key, value in totals.items()}


@_private_seed
def train_aligners(  # noqa: PLR0913 - one loop, every input named
    train: ModalityBatch,
    train_labels: np.ndarray,
    val: ModalityBatch,
    val_labels: np.ndarray,
    text: np.ndarray,
    sets: CategorySets,
    config: MultimodalTrainingConfig,
) -> TrainingOutcome:
    """Train every modality's aligner jointly (module docstring); keep the best validation epoch.

    Args:
        train, val: Features of the splits (every training sample has every modality).
        train_labels, val_labels: int8 [N, C] over the vocabulary of ``sets`` (unseen columns are ignored in
            training).
        text: float32 [C, D] L2-normalised category text features.
        sets: The modalities' category sets.
        config: Hyper-parameters.
    """
    loop = _make_loop(train, train_labels, text, sets, config)
    history, best, best_state, best_epoch = [], -np.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        record = _train_epoch(loop, train)
        val_scores = modality_scores(loop.aligner, val, text)
        record |= {"epoch": epoch, "val_seen_mAP": seen_map(val_scores, val, val_labels, ~sets.unseen)}
        history.append(record)
        logger.info(
            "multimodal[%s] epoch %d: %s",
            config.balancing,
            epoch,
            ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch"),
        )
        if record["val_seen_mAP"] > best:
            best, best_epoch = record["val_seen_mAP"], epoch
            best_state = copy.deepcopy(loop.aligner.state_dict())
    if best_state is None:
        raise ValueError(
            "multimodal training: the validation mAP over the seen categories was never finite (no "
            "sample has a positive among them?); check val_labels and the category sets"
        )
    loop.aligner.load_state_dict(best_state)
    loop.aligner.eval()
    return TrainingOutcome(loop.aligner, best_epoch, history)
