"""From features and category sets to a :class:`~ovmlr.multimodal.trained.TrainedCSCF`.

Steps: train the aligners (:func:`~ovmlr.multimodal.training.train_aligners`, best validation epoch); with
``alignment: pico`` fit each modality's PICO weights on its aligned training features and own categories;
choose the refinement's γ_own and γ_other on the validation split (mAP over the seen categories of the CSCF
scores, over the grid of ``fusion.gamma_grid``), after calibrating each modality's uncertainty temperature
on the same split (:func:`~ovmlr.multimodal.fusion.calibrate_temperature`), for every zero-shot weight of
``fusion.zero_shot_weight_grid`` (residual modalities' score ensemble,
:meth:`~ovmlr.multimodal.trained.TrainedCSCF.modality_scores`); the best combination on validation is kept —
never anything on the test split.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .data import CategorySets, ModalityBatch
from .evaluation import map_or_nan
from .fusion import FusionConfig, calibrate_temperature
from .trained import TrainedCSCF, fit_pico_weights
from .training import MultimodalTrainingConfig, train_aligners

logger = logging.getLogger(__name__)
ALIGNMENTS = ("cosine", "pico")


def choose_gammas(
    model: TrainedCSCF,
    val: ModalityBatch,
    val_labels: np.ndarray,
    own: Sequence[float],
    other: Sequence[float],
    scores: dict[str, np.ndarray] | None = None,
) -> tuple[FusionConfig, list[dict[str, float]]]:
    """The (γ_own, γ_other) of the grid with the best validation mAP on the seen categories (``scores``: the
    model's validation :meth:`~TrainedCSCF.modality_scores`, when the caller has them)."""
    if not own or not other:
        raise ValueError("multimodal.fusion.gamma_grid needs at least one value for 'own' and for 'other'")
    scores = scores if scores is not None else model.modality_scores(val)
    seen = ~model.sets.unseen
    trials, best = [], None
    for gamma_own, gamma_other in itertools.product(own, other):
        fusion = replace(model.fusion, gamma_own=float(gamma_own), gamma_other=float(gamma_other))
        fused = model.with_fusion(fusion).score(val, "cscf", scores)
        value = map_or_nan(fused[:, seen], val_labels[:, seen])
        trials.append(
            {"gamma_own": float(gamma_own), "gamma_other": float(gamma_other), "val_seen_mAP": value}
        )
        if best is None or value > best[0]:
            best = (value, fusion)
    logger.info(
        "CSCF refinement: gamma_own=%s gamma_other=%s (val seen mAP %.4f)",
        best[1].gamma_own,
        best[1].gamma_other,
        best[0],
    )
    return best[1], trials


@dataclass(frozen=True)
class FusionSearch:
    """What validation chooses among (``multimodal.fusion``'s grids)."""

    gamma_own: tuple[float, ...]
    gamma_other: tuple[float, ...]
    temperature_grid: tuple[float, float, int]  # min, max, steps of the log-spaced κ candidates
    zero_shot_weights: tuple[float, ...] = (0.0,)

    def temperatures(self) -> np.ndarray:
        """The κ candidates. [steps]"""
        low, high, steps = self.temperature_grid
        return np.geomspace(low, high, steps)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> tuple[FusionConfig, FusionSearch]:
        """Split ``multimodal.fusion`` into the fixed :class:`FusionConfig` and the grids; a ValueError names
        a missing or malformed grid."""
        params = dict(params)
        grid = params.pop("gamma_grid", None)
        if (
            not isinstance(grid, Mapping)
            or set(grid) != {"own", "other"}
            or not grid["own"]
            or not grid["other"]
        ):
            raise ValueError(
                f"multimodal.fusion.gamma_grid must have keys 'own' and 'other' (non-empty), got {grid}"
            )
        kappa = params.pop("temperature_grid", None)
        if not isinstance(kappa, Mapping) or set(kappa) != {"min", "max", "steps"}:
            raise ValueError(
                f"multimodal.fusion.temperature_grid must have keys min, max, steps; got {kappa}"
            )
        weights = tuple(float(w) for w in params.pop("zero_shot_weight_grid", [0.0]))
        if not weights or any(not 0.0 <= w <= 1.0 for w in weights):
            raise ValueError(
                f"multimodal.fusion.zero_shot_weight_grid must list weights in [0, 1], got {weights}"
            )
        search = cls(
            tuple(float(g) for g in grid["own"]),
            tuple(float(g) for g in grid["other"]),
            (float(kappa["min"]), float(kappa["max"]), int(kappa["steps"])),
            weights,
        )
        return FusionConfig(**params), search


def _choose_fusion(
    model: TrainedCSCF, search: FusionSearch, val: ModalityBatch, val_labels: np.ndarray, sets: CategorySets
) -> TrainedCSCF:
    """For each zero-shot weight of the grid, each modality's temperature and then the γ on validation; the
    fusion with the best validation seen mAP, its γ trials in ``info["gamma_trials"]``."""
    kappas = search.temperatures()
    best = None
    for weight in search.zero_shot_weights:
        candidate = model.with_fusion(replace(model.fusion, zero_shot_weight=float(weight)))
        val_scores = candidate.modality_scores(val)
        temperatures = {
            m: calibrate_temperature(val_scores[m], val_labels, ~sets.unseen, kappas)
            for m in model.modalities
        }
        candidate = candidate.with_fusion(replace(candidate.fusion, temperatures=temperatures))
        chosen, trials = choose_gammas(
            candidate, val, val_labels, search.gamma_own, search.gamma_other, val_scores
        )
        value = max(t["val_seen_mAP"] for t in trials)
        logger.info("zero_shot_weight %.2f: temperatures %s, val seen mAP %.4f", weight, temperatures, value)
        if best is None or value > best[0]:
            best = (value, candidate.with_fusion(chosen), trials)
    chosen_model = best[1]
    chosen_model.info["gamma_trials"] = [
        t | {"zero_shot_weight": chosen_model.fusion.zero_shot_weight} for t in best[2]
    ]
    return chosen_model


def fit_cscf(  # noqa: PLR0913, PLR0917 - the whole recipe, every input named
    train: ModalityBatch,
    train_labels: np.ndarray,
    val: ModalityBatch,
    val_labels: np.ndarray,
    text: np.ndarray,
    category_ids: np.ndarray,
    sets: CategorySets,
    training: Mapping[str, Any],
    fusion: Mapping[str, Any],
    alignment: str,
    pico: Mapping[str, Any],
    info: Mapping[str, Any] | None = None,
) -> TrainedCSCF:
    """Train, fit PICO (optional) and choose the fusion's γ on validation (module docstring).

    Args:
        training: ``multimodal.training`` parameters (:class:`MultimodalTrainingConfig`).
        fusion: ``multimodal.fusion`` parameters: :class:`FusionConfig` fields but the γ and temperatures,
            plus ``gamma_grid`` (``own`` and ``other`` lists) and ``temperature_grid`` (``min``, ``max``,
            ``steps``: log-spaced κ candidates).
        alignment: ``cosine`` or ``pico``.
        pico: PICO parameters (``training.pico``), used with ``alignment: pico``.
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    base, search = FusionSearch.from_params(fusion)
    config = MultimodalTrainingConfig.from_params(training)
    outcome = train_aligners(train, train_labels, val, val_labels, text, sets, config)
    weights = (
        fit_pico_weights(outcome.aligner, train, train_labels, text, sets, dict(pico))
        if alignment == "pico"
        else {}
    )
    model = TrainedCSCF(
        aligner=outcome.aligner,
        sets=sets,
        text=text,
        category_ids=np.asarray(category_ids, dtype=np.int64),
        training=config,
        fusion=base,
        pico=weights,
        info=dict(info or {})
        | {
            "best_epoch": outcome.best_epoch,
            "history": outcome.history,
            "alignment": alignment,
            "balancing": config.balancing,
        },
    )
    return _choose_fusion(model, search, val, val_labels, sets)
