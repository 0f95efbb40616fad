"""The epoch and the zero-shot weight chosen on the protocol's validation data; the selected model built."""

from __future__ import annotations

import logging
import math
from typing import Any

from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary, prompt_templates
from ovmlr.trained.model import ModelDescription, TrainedC2SRT
from ovmlr.training.checkpoints import CheckpointStore
from ovmlr.training.fit import best_epoch
from ovmlr.training.protocol import choose_zero_shot_weight
from ovmlr.training.recipe import TrainingRecipe
from ovmlr.training.runs import RunPlan, RunSpec, TrainingContext, train_runs

logger = logging.getLogger(__name__)


def train_and_select(plan: RunPlan, context: TrainingContext, store: CheckpointStore) -> TrainedC2SRT:
    """Train every run of ``plan`` into ``store``, then select (:func:`select_trained`)."""
    for record in train_runs(plan, context, store):
        store.save(record.checkpoint, record.keep_state)
    return select_trained(plan, context, store)


def select_trained(plan: RunPlan, context: TrainingContext, store: CheckpointStore) -> TrainedC2SRT:
    """The final run's model at the epoch the chooser run's validation history chooses, with the zero-shot
    weight (``selection.zero_shot_weights``) chosen at that epoch on the same validation data.

    ``disjoint``: the chooser is the selection run (pseudo-unseen categories); ``lax`` / ``seen``: the final
    run itself. Provenance goes to ``info``.

    Raises:
        ValueError: A run has no checkpoint in ``store`` (it was not trained).
    """
    recipe, selection = plan.recipe, plan.recipe.selection
    chooser_last, final_last = (_latest(store, run) for run in (plan.chooser, plan.final))
    epoch, value = _choose_epoch(chooser_last, selection.metric)
    logger.info("Selected epoch %d: %s = %.4f", epoch, selection.name, value)
    config, tried = dict(plan.model_config), None
    if selection.zero_shot_weights:
        chooser = model_at(plan, plan.chooser, epoch, store, context, config)
        weight, tried = choose_ensemble_weight(chooser, plan.chooser.val, recipe, context)
        value = tried[weight]
        logger.info("Zero-shot weight %.3g chosen on %s: %s", weight, selection.name, tried)
        config["score"] = {**config["score"], "zero_shot_weight": weight}
    trained = model_at(plan, plan.final, epoch, store, context, config, plan.vocabulary)
    trained.info = {
        "dataset": recipe.registry.dataset,
        "epoch": epoch,
        "trainable": bool(chooser_last["history"]),
        "selection_metric": selection.name,
        "selection_value": value,
        "selection_protocol": selection.protocol,
        "zero_shot_weight": float(config["score"].get("zero_shot_weight", 0.0)),
        "zero_shot_weights_tried": None if tried is None else {str(w): v for w, v in tried.items()},
        "fingerprint": plan.final.run_id,
        "history": final_last["history"],
        "selection_history": chooser_last["history"] if plan.chooser is not plan.final else None,
    }
    return trained


def _latest(store: CheckpointStore, run: RunSpec) -> dict[str, Any]:
    last = store.latest(run.run_id)
    if last is None:
        raise ValueError(f"no checkpoint of the {run.role} run {run.run_id}: train it first")
    return last


def _choose_epoch(last: dict[str, Any], metric: str) -> tuple[int, float]:
    """``(epoch, value)`` of the best validation epoch; ``(0, nan)`` for a run that trained nothing."""
    if not last["history"]:
        return 0, math.nan
    return best_epoch(last["history"], metric)


def model_at(
    plan: RunPlan,
    run: RunSpec,
    epoch: int,
    store: CheckpointStore,
    context: TrainingContext,
    config: dict[str, Any],
    vocabulary: Vocabulary | None = None,
) -> TrainedC2SRT:
    """The model of ``run`` at ``epoch`` over ``vocabulary`` (default: the run's validation vocabulary)."""
    recipe = plan.recipe
    description = ModelDescription(
        model_config=config,
        vocabulary=vocabulary or run.vocabulary,
        backbone_spec=BackboneSpec.from_dict(context.backbone_spec),
        templates=prompt_templates(recipe.text_prompt, context.templates),
        trainable_blocks=recipe.finetune.trainable_blocks,
        device=str(resolve_device(recipe.loop.device)),
    )
    state = store.load(run.run_id, epoch)["model_state"]
    return TrainedC2SRT.from_state(state, recipe.loop.mode, description)


def choose_ensemble_weight(
    chooser: TrainedC2SRT, val: FeatureSplit, recipe: TrainingRecipe, context: TrainingContext
) -> tuple[float, dict[float, float]]:
    """``score.zero_shot_weight`` chosen from ``selection.zero_shot_weights`` for the model that made the
    epoch choice (over the validation vocabulary), on ``val`` (re-encoded through its student when
    fine-tuned), by the selection metric."""
    loop, selection = recipe.loop, recipe.selection
    encoded = chooser.encode_split(
        val, context.image_manifest, recipe.finetune.image_root, loop.eval_batch_size
    )
    cosine, zero_shot = chooser.ensemble_parts(encoded, loop.eval_batch_size)
    unseen = chooser.vocabulary.unseen_mask
    return choose_zero_shot_weight(
        cosine, zero_shot, encoded.labels, unseen, selection.zero_shot_weights, selection.metric, loop.ks
    )
