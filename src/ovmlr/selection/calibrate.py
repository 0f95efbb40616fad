"""Decision thresholds of the selected model, chosen on validation data only.

- **Seen labels**: one threshold each, on the selected (final) model's scores of the protocol's validation
  data for the final run (the val split's seen columns; ``lax``: its seen columns too).
- **New names**: one threshold for every name outside the training vocabulary, pooled over the
  class-disjoint validation's pseudo-unseen categories: the selection run at the chosen epoch (it never
  trained on them), with the selected model's zero-shot weight, scored on the val split. Only the
  ``disjoint`` protocol has them; under ``seen`` and ``lax`` new names get no threshold (``None``) rather
  than one read off the test task's unseen categories.

No test split is read here: :func:`calibrate_thresholds` takes the plan's validation data and nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from ovmlr.core.thresholds import LabelThreshold, ThresholdRule, Thresholds
from ovmlr.evaluation.scoring import score_trained
from ovmlr.evaluation.thresholds import fit_label_thresholds, fit_threshold, reliability_bins
from ovmlr.trained.model import TrainedC2SRT
from ovmlr.training.checkpoints import CheckpointStore
from ovmlr.training.runs import RunPlan, RunSpec, TrainingContext

from .select import model_at

logger = logging.getLogger(__name__)

NEW_NAMES = "new names"
NO_POSITIVE = "no positive in val: tagged by the new-name threshold"


def _validation_scores(
    model: TrainedC2SRT, run: RunSpec, context: TrainingContext, plan: RunPlan
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, labels)`` [N, C] of ``model`` over ``run``'s validation split and vocabulary."""
    recipe = plan.recipe
    encoded, scores = score_trained(
        model, run.val, context.image_manifest, recipe.finetune.image_root, recipe.loop.eval_batch_size
    )
    return scores, encoded.labels


def seen_thresholds(
    trained: TrainedC2SRT, plan: RunPlan, context: TrainingContext, rule: ThresholdRule
) -> tuple[dict[str, LabelThreshold], list[dict[str, float]]]:
    """One threshold per seen category of the final run's validation vocabulary, and its reliability bins."""
    final = plan.final
    model = replace(trained, vocabulary=final.vocabulary)
    scores, labels = _validation_scores(model, final, context, plan)
    seen = ~final.vocabulary.unseen_mask
    names = tuple(n for n, s in zip(final.vocabulary.names, seen, strict=True) if s)
    fits = fit_label_thresholds(scores[:, seen], labels[:, seen], names, rule, source="val")
    fits = {n: replace(t, note=NO_POSITIVE) if t.threshold is None else t for n, t in fits.items()}
    return fits, reliability_bins(scores[:, seen], labels[:, seen], rule.bins)


def new_name_threshold(
    trained: TrainedC2SRT,
    plan: RunPlan,
    context: TrainingContext,
    store: CheckpointStore,
    rule: ThresholdRule,
) -> tuple[LabelThreshold | None, list[dict[str, float]]]:
    """The new-name threshold pooled over the pseudo-unseen categories (``disjoint`` only, else ``None``)."""
    chooser = plan.chooser
    if chooser is plan.final:
        logger.info(
            "Thresholds: protocol %r has no class-disjoint validation: new names get no threshold",
            plan.recipe.selection.protocol,
        )
        return None, []
    model = model_at(plan, chooser, int(trained.info["epoch"]), store, context, trained.model_config)
    scores, labels = _validation_scores(model, chooser, context, plan)
    pseudo = chooser.vocabulary.unseen_mask
    fit = fit_threshold(scores[:, pseudo], labels[:, pseudo], rule, source="disjoint-val")
    return fit, reliability_bins(scores[:, pseudo], labels[:, pseudo], rule.bins)


def _described(fit: LabelThreshold | None) -> str:
    if fit is None:
        return "none (no class-disjoint validation)"
    if fit.threshold is None:
        return "none (the pseudo-unseen categories have no positive in val)"
    return f"{fit.threshold:.4f} (P {fit.precision:.3f}, R {fit.recall:.3f} on {fit.positives} positives)"


def calibrate_thresholds(
    trained: TrainedC2SRT,
    plan: RunPlan,
    context: TrainingContext,
    store: CheckpointStore,
    rule: ThresholdRule,
) -> TrainedC2SRT:
    """The selected model with its :class:`Thresholds` (seen labels on val, new names on the pseudo-unseen
    categories of the class-disjoint validation); the input model is not changed."""
    labels, seen_bins = seen_thresholds(trained, plan, context, rule)
    new_name, new_bins = new_name_threshold(trained, plan, context, store, rule)
    reliability = {"seen": seen_bins} | ({NEW_NAMES: new_bins} if new_bins else {})
    thresholds = Thresholds(rule.name, labels, new_name, reliability)
    without = [n for n, t in labels.items() if t.threshold is None]
    logger.info(
        "Thresholds (%s) for %d seen labels on val (%d without a positive: they take the new-name "
        "threshold); new names: %s",
        rule.name,
        len(labels),
        len(without),
        _described(new_name),
    )
    return replace(trained, thresholds=thresholds)
