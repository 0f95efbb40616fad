r"""CSCF steps 2 and 3 at test time: the dominant modality by uncertainty, refined by class similarity.

Our reading of the abstract (each choice is a parameter of :class:`FusionConfig`):

* **Comparable scores.** Cosines of different modalities live on different scales, so each modality's score
  vector is standardised per sample over the vocabulary, :math:`\hat s_m = (s_m - \bar s_m) / \sigma(s_m)`,
  before any fusion (late fusion too).
* **Uncertainty** (step 2) is the normalised entropy of the modality's category distribution
  :math:`p_m = \mathrm{softmax}(\kappa_m s_m)` over the seen categories (the union of the sets: the columns
  its temperature is calibrated on),
  :math:`u_m = H(p_m) / \log C \in [0, 1]`. We take the entropy rather than an evidential estimate because
  it needs no extra head or loss and works on any trained aligner (also a zero-shot one); the sharper the
  distribution, the more one category stands out, the more discriminative the modality is for that sample.
  Entropies of different modalities are only comparable once each modality is *calibrated*: its temperature
  :math:`\kappa_m` is fitted on the validation split (:func:`calibrate_temperature`, temperature scaling:
  the κ of a log-spaced grid with the lowest cross-entropy between :math:`p_m` over the seen categories and
  the sample's positives). With one shared κ (measured on the offline default) the weak image modality was
  picked for half of the samples, because its cosines spread as widely as the text's.
  A missing modality has :math:`u_m = +\infty`; the dominant modality is :math:`\arg\min_m u_m` (ties: the
  first modality).
* **Refinement** (step 3): the auxiliary modalities' standardised scores are carried through a class-
  similarity matrix :math:`S` (text-feature cosine, each row kept to its ``neighbours`` most similar
  categories, itself included, as a softmax with temperature ``similarity_temperature``) and added to the
  dominant modality's:

  .. math::
      y_c = \hat s_{d,c} + \gamma_c \cdot \frac{1}{|A|} \sum_{a \in A} (S\, \hat s_a)_c, \qquad
      \gamma_c = \begin{cases} \gamma_{own} & c \in C_d \\ \gamma_{other} & c \notin C_d \end{cases}

  with :math:`A` the present auxiliary modalities. :math:`\gamma_{other} \ge \gamma_{own}` lets the
  auxiliary modality speak louder where the dominant one was never trained (the other modality's categories
  and the unseen ones). Both are chosen on the validation split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

_EPS = 1e-8
METHODS_FIXED = ("late_mean", "late_max", "decision", "cscf", "oracle")


@dataclass(frozen=True)
class FusionConfig:
    """Hyper-parameters of the test-time fusion (see the module docstring)."""

    temperatures: dict[str, float] = field(default_factory=dict)  # κ_m per modality (calibrated on val)
    neighbours: int = 8  # categories kept per row of S (itself included)
    similarity_temperature: float = 0.05  # softmax temperature of S's rows over their cosines
    gamma_own: float = 0.25  # γ on the dominant modality's own categories
    gamma_other: float = 1.0  # γ on every other category
    zero_shot_weight: float = (
        0.0  # w of the residual modalities' zero-shot term (TrainedCSCF.modality_scores)
    )

    def __post_init__(self) -> None:
        if self.similarity_temperature <= 0:
            raise ValueError(
                f"multimodal.fusion.similarity_temperature must be > 0, got {self.similarity_temperature}"
            )
        if not 0.0 <= self.zero_shot_weight <= 1.0:
            raise ValueError(
                f"multimodal.fusion.zero_shot_weight must be in [0, 1], got {self.zero_shot_weight}"
            )
        bad = {m: k for m, k in self.temperatures.items() if not k > 0}
        if bad:
            raise ValueError(f"fusion temperatures must be > 0, got {bad}")
        if self.neighbours < 1:
            raise ValueError(f"multimodal.fusion.neighbours must be >= 1, got {self.neighbours}")
        for name in ("gamma_own", "gamma_other"):
            if getattr(self, name) < 0:
                raise ValueError(f"multimodal.fusion.{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return asdict(self)

    def temperature(self, modality: str) -> float:
        """κ_m; a ValueError when the modality was never calibrated."""
        if modality not in self.temperatures:
            raise ValueError(
                f"no calibrated temperature for modality {modality!r} (have {sorted(self.temperatures)}): "
                "calibrate_temperature on the validation split first"
            )
        return self.temperatures[modality]


def calibrate_temperature(
    scores: np.ndarray, labels: np.ndarray, columns: np.ndarray, grid: Sequence[float]
) -> float:
    r"""Temperature scaling: the κ of ``grid`` minimising the mean cross-entropy
    :math:`-\frac{1}{|P_i|}\sum_{c \in P_i} \log \mathrm{softmax}(\kappa s_i|_{columns})_c` over the samples
    with a positive among ``columns`` (validation split only).

    Shapes: scores [N, C], labels [N, C], columns [C] bool → κ
    """
    positive = labels[:, columns] == 1
    rows = positive.any(axis=1)
    if not rows.any():
        raise ValueError("calibrate_temperature: no sample has a positive among the given categories")
    sub, pos = scores[rows][:, columns].astype(np.float64), positive[rows]
    best, best_loss = None, np.inf
    for kappa in grid:
        logits = kappa * sub
        logits -= logits.max(axis=1, keepdims=True)
        log_prob = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = float(-((log_prob * pos).sum(axis=1) / pos.sum(axis=1)).mean())
        if loss < best_loss:
            best, best_loss = float(kappa), loss
    return best


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-sample z-score over the categories. Shapes: [N, C] → [N, C]."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return ((scores - mean) / np.maximum(std, _EPS)).astype(np.float32)


def entropy_uncertainty(scores: np.ndarray, temperature: float) -> np.ndarray:
    r""":math:`u = H(\mathrm{softmax}(\kappa s)) / \log C`, in [0, 1]. Shapes: [N, C] → [N]."""
    logits = temperature * scores.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    entropy = -(prob * np.log(np.maximum(prob, 1e-300))).sum(axis=1)
    return entropy / np.log(scores.shape[1]) if scores.shape[1] > 1 else np.zeros(len(scores))


def dominant_modality(uncertainty: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray]) -> np.ndarray:
    """Index (in ``uncertainty``'s order) of each sample's least uncertain *present* modality.

    A sample with no modality at all gets -1. Shapes: modality → [N] → [N] int64.
    """
    names = list(uncertainty)
    table = np.stack([np.where(present[m], uncertainty[m], np.inf) for m in names], axis=1)  # [N, M]
    choice = table.argmin(axis=1)
    choice[~np.isfinite(table).any(axis=1)] = -1
    return choice


def class_similarity(text: np.ndarray, neighbours: int, temperature: float) -> np.ndarray:
    r"""Row-stochastic :math:`S`: each category's ``neighbours`` most similar categories (itself included).

    :math:`S_{cj} \propto \exp(\cos(t_c, t_j)/\tau)` over the kept j, 0 elsewhere.

    Shapes:
        text: [C, D] → [C, C]
    """
    unit = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), _EPS)
    cosine = unit @ unit.T  # [C, C]
    np.fill_diagonal(cosine, np.inf)  # itself always kept
    k = min(neighbours, len(text))
    keep = np.argpartition(-cosine, k - 1, axis=1)[:, :k]  # [C, k]
    np.fill_diagonal(cosine, 1.0)
    rows = np.arange(len(text))[:, None]
    kept = cosine[rows, keep] / temperature
    kept = np.exp(kept - kept.max(axis=1, keepdims=True))
    out = np.zeros_like(cosine)
    out[rows, keep] = kept / kept.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


def refine(
    dominant: np.ndarray,
    auxiliary: Sequence[np.ndarray],
    similarity: np.ndarray,
    own: np.ndarray,
    gamma_own: float,
    gamma_other: float,
    auxiliary_present: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    r"""Step 3 on standardised scores.

    :math:`y = \hat s_d + \gamma \odot \mathrm{mean}_{a\,present}(\hat s_a S^\top)`.

    :math:`\gamma_c` is ``gamma_own`` where ``own`` (the dominant modality's set :math:`C_d`), else
    ``gamma_other``. An auxiliary modality absent for a sample contributes nothing to it; no auxiliary at
    all leaves the dominant scores as they are.

    Shapes:
        dominant: [N, C]; auxiliary: list of [N, C]; similarity: [C, C]; own: [C] bool;
        auxiliary_present: list of [N] bool (``None``: all present) → [N, C]
    """
    if not auxiliary:
        return dominant
    flags = auxiliary_present or [np.ones(len(dominant), dtype=bool) for _ in auxiliary]
    total = sum(f[:, None] * (aux @ similarity.T) for aux, f in zip(auxiliary, flags, strict=True))
    count = np.maximum(sum(f.astype(np.float32) for f in flags), 1.0)[:, None]  # [N, 1]
    gamma = np.where(own, gamma_own, gamma_other).astype(np.float32)  # [C]
    return (dominant + gamma[None, :] * total / count).astype(np.float32)


def fuse(
    scores: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray],
    member: Mapping[str, np.ndarray],
    similarity: np.ndarray,
    config: FusionConfig,
    refine_scores: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """CSCF's decision fusion: each sample's dominant modality, refined by the present auxiliary ones.

    ``refine_scores=False`` gives the decision fusion alone (the dominant modality's scores). A sample with no
    modality scores 0 everywhere.

    Returns:
        Fused scores [N, C] and the dominant modality's index per sample [N] (-1: none present).
    """
    names = list(scores)
    standard = {m: standardise(s) for m, s in scores.items()}
    trained = np.any(np.stack(list(member.values())), axis=0)  # the columns κ_m was calibrated on
    uncertainty = {m: entropy_uncertainty(s[:, trained], config.temperature(m)) for m, s in scores.items()}
    choice = dominant_modality(uncertainty, present)
    out = np.zeros_like(standard[names[0]])
    for index, modality in enumerate(names):
        rows = choice == index
        if not rows.any():
            continue
        others = [a for a in names if a != modality] if refine_scores else []
        out[rows] = refine(
            standard[modality][rows],
            [standard[a][rows] for a in others],
            similarity,
            member[modality],
            config.gamma_own,
            config.gamma_other,
            [present[a][rows] for a in others],
        )
    return out, choice


def late_fusion(scores: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], how: str) -> np.ndarray:
    """Mean or max of the present modalities' standardised scores. Shapes: modality → [N, C] → [N, C]."""
    if how not in ("mean", "max"):
        raise ValueError(f"late fusion is 'mean' or 'max', got {how!r}")
    stack = np.stack([standardise(s) for s in scores.values()])  # [M, N, C]
    flags = np.stack([present[m] for m in scores])[:, :, None]  # [M, N, 1]
    if how == "mean":
        total = np.where(flags, stack, 0.0).sum(axis=0)
        return (total / np.maximum(flags.sum(axis=0), 1)).astype(np.float32)
    fused = np.where(flags, stack, -np.inf).max(axis=0)
    return np.where(np.isfinite(fused), fused, 0.0).astype(np.float32)


def sample_average_precision(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AP of each sample's ranking of the categories (positives = 1; -1 left out); NaN without a positive.

    Shapes: [N, C] → [N]
    """
    out = np.full(len(scores), np.nan)
    for i, (row, lab) in enumerate(zip(scores, labels, strict=True)):
        known = lab >= 0
        positive = lab[known] == 1
        if not positive.any():
            continue
        order = np.argsort(-row[known], kind="stable")
        hits = positive[order]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        out[i] = precision[hits].mean()
    return out


def oracle_choice(
    scores: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upper bound: per sample, the present modality whose own ranking has the best AP *on the true labels*.

    Uses the test labels by construction — an oracle, never a method. Returns scores [N, C] and choice [N].
    """
    names = list(scores)
    standard = [standardise(scores[m]) for m in names]
    ap = np.stack(
        [
            np.where(present[m], np.nan_to_num(sample_average_precision(s, labels), nan=0.0), -np.inf)
            for m, s in zip(names, standard, strict=True)
        ],
        axis=1,
    )  # [N, M]
    choice = ap.argmax(axis=1)
    picked = np.stack(standard)[choice, np.arange(len(choice))]
    return picked.astype(np.float32), choice
