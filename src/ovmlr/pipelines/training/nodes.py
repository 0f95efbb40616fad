"""Nodes of the ``training`` pipeline: thin adapters over :mod:`ovmlr.training` and :mod:`ovmlr.selection`.

The recipe is parsed once (``training_recipe``); the runs are planned once (``training_plan``); training
yields every epoch to the checkpoint store on disk (for ``resume``) and selection reads it back. The test
metrics come from the evaluation package's scoring path, as the evaluation pipeline's and the ablation's do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import COOP_PROMPT, Vocabulary, build_vocabulary_from_tables
from ovmlr.datasets.checkpoints import DiskCheckpointStore
from ovmlr.datasets.mlflow_registry import ModelRegistration
from ovmlr.evaluation.scoring import score_trained, scores_frame
from ovmlr.evaluation.summary import split_metrics
from ovmlr.reporting.thresholds import plot_reliability
from ovmlr.selection import select_trained
from ovmlr.selection.calibrate import calibrate_thresholds
from ovmlr.selection.lineage import check_parent, head_init, inherit
from ovmlr.trained.card import model_card
from ovmlr.trained.model import TrainedC2SRT
from ovmlr.training.recipe import TrainingRecipe
from ovmlr.training.runs import EpochRecord, RunPlan, TrainingContext, plan_runs, train_runs

logger = logging.getLogger(__name__)


def parse_training_recipe(params: dict[str, Any]) -> TrainingRecipe:
    """``params:training`` parsed once (unknown keys and bad values are named)."""
    return TrainingRecipe.from_params(params)


def build_vocabulary(
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    category_neighbours: pd.DataFrame,
    recipe: TrainingRecipe,
) -> Vocabulary:
    """The full vocabulary (seen + unseen) with the recipe's prompt set's text features."""
    if recipe.prompt == COOP_PROMPT:
        raise ValueError(
            f"training.prompt '{COOP_PROMPT}' (prompt tuning) is a row of the ablation (Table 5, "
            "ablation.coop); the training pipeline uses fixed prompts: '__ensemble__' or one template"
        )
    vocabulary = build_vocabulary_from_tables(
        category_split, text_features, category_neighbours, recipe.prompt
    )
    n_unseen = int(vocabulary.unseen_mask.sum())
    k = vocabulary.neighbours.shape[1]
    logger.info(
        "Vocabulary: %d seen, %d unseen categories, K=%d, prompt %r",
        len(vocabulary) - n_unseen,
        n_unseen,
        k,
        recipe.prompt,
    )
    return vocabulary


def make_training_context(
    backbone_info: dict[str, Any],
    backbone_spec: dict[str, Any],
    image_manifest: pd.DataFrame,
    templates: list[str],
) -> TrainingContext:
    """What training reads besides the features: the backbone, the images, the prompt templates."""
    return TrainingContext(backbone_info, backbone_spec, image_manifest, tuple(templates))


def plan_training(
    recipe: TrainingRecipe,
    vocabulary: Vocabulary,
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    context: TrainingContext,
    training_init_model: TrainedC2SRT | None,
) -> RunPlan:
    """The runs of the recipe's selection protocol (:func:`ovmlr.training.runs.plan_runs`), every head
    starting from the parent model's when fine-tuning (``training.init``; ``None``: from scratch)."""
    parent = check_parent(training_init_model, recipe)
    init = None if parent is None else head_init(parent, context.backbone_info)
    plan = plan_runs(recipe, vocabulary, train_split, val_split, context, init)
    selection = recipe.selection
    strict = "" if selection.strict else " (reads the val split's unseen categories)"
    logger.info(
        "Selection protocol %s: %d run(s), chosen by %s%s",
        selection.protocol,
        len(plan.runs),
        selection.name,
        strict,
    )
    return plan


def train_c2srt(
    plan: RunPlan, context: TrainingContext, training_resume: DiskCheckpointStore
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Train the plan's runs; yields after every epoch, so each checkpoint is saved at once.

    Yields:
        ``(checkpoint, the epoch's metrics for MLflow, the runs' summary)``; the selection run's metrics are
        logged as ``disjoint/...``.
    """
    for record in train_runs(plan, context, training_resume):
        yield (
            record.checkpoint,
            epoch_metrics(record),
            record.summary | {"epochs_done": int(record.checkpoint["epoch"])},
        )


def epoch_metrics(record: EpochRecord) -> dict[str, dict[str, float]]:
    """The last epoch's history entry as MLflow metrics (``val/x`` → ``disjoint/x`` for the selection run)."""
    history = record.checkpoint.get("history") or []
    if not history:
        return {}
    epoch = int(record.checkpoint["epoch"])
    rename = (lambda k: k) if record.run.role == "final" else (lambda k: f"disjoint/{k.removeprefix('val/')}")
    return {rename(k): {"value": v, "step": epoch} for k, v in history[-1].items() if k != "epoch"}


def select_best_checkpoint(
    plan: RunPlan, context: TrainingContext, training_checkpoints: DiskCheckpointStore
) -> TrainedC2SRT:
    """The model of the epoch (and zero-shot weight) the protocol chooses (``select_trained``)."""
    return select_trained(plan, context, training_checkpoints)


def calibrate_model(
    c2srt_selected: TrainedC2SRT,
    plan: RunPlan,
    context: TrainingContext,
    training_checkpoints: DiskCheckpointStore,
    recipe: TrainingRecipe,
) -> TrainedC2SRT:
    """The selected model with decision thresholds chosen on validation data (``training.thresholds``)."""
    return calibrate_thresholds(c2srt_selected, plan, context, training_checkpoints, recipe.thresholds)


def inherit_from_parent(
    c2srt_calibrated: TrainedC2SRT, training_init_model: TrainedC2SRT | None, recipe: TrainingRecipe
) -> TrainedC2SRT:
    """The model with its lineage and, under ``training.init.vocabulary: keep``, the parent's other labels
    (unchanged when trained from scratch)."""
    return inherit(c2srt_calibrated, check_parent(training_init_model, recipe), recipe)


def plot_threshold_reliability(c2srt_trained: TrainedC2SRT) -> Figure:
    """The reliability plot of the model's thresholds (validation data)."""
    return plot_reliability(c2srt_trained.thresholds)


def score_test_split(
    trained_model: TrainedC2SRT, split: FeatureSplit, image_manifest: pd.DataFrame, recipe: TrainingRecipe
) -> tuple[FeatureSplit, pd.DataFrame]:
    """The test split as the model sees it (through its student when fine-tuned) and its scores table."""
    loop = recipe.loop
    encoded, scores = score_trained(
        trained_model, split, image_manifest, recipe.finetune.image_root, loop.eval_batch_size
    )
    return encoded, scores_frame(encoded.image_ids, scores, trained_model.vocabulary)


def compute_test_metrics(
    test_scores: pd.DataFrame, test_split: FeatureSplit, vocabulary: Vocabulary, recipe: TrainingRecipe
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Test ZSL/GZSL metrics of the selected model, for MLflow (``test/...``) and as a dict."""
    if not np.array_equal(test_scores["image_id"].to_numpy(), test_split.image_ids):
        raise ValueError("scores and split list different images (or a different order)")
    values = test_scores[list(vocabulary.names)].to_numpy(dtype=np.float32)
    metrics = split_metrics(values, test_split.labels, vocabulary.unseen_mask, recipe.loop.ks)
    flat = {f"test/{k}": v for k, v in metrics.items()}
    shown = {k: round(v, 4) for k, v in metrics.items() if "mAP" in k}
    logger.info("Test: %s", shown)
    return {k: {"value": v, "step": 0} for k, v in flat.items()}, flat


def package_model(
    trained_model: TrainedC2SRT, test_metrics: dict[str, float], recipe: TrainingRecipe
) -> ModelRegistration:
    """The trained model with its description, model card and champion policy, for the registry.

    Raises:
        ValueError: The head had nothing to train (it would be registered untrained).
    """
    info, dataset = trained_model.info, recipe.registry.dataset
    if not info.get("trainable", True):
        raise ValueError(
            "this head has no trainable parameter on frozen features (head: mkt, or ISR/IST off), or "
            "training.loop.epochs is 0: train it with training.loop.mode=finetune, or score it as a row of "
            "the ablation runner"
        )
    shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(test_metrics.items()) if "mAP" in k or "F1" in k)
    n_unseen = int(trained_model.vocabulary.unseen_mask.sum())
    description = (
        f"C²SRT on dataset '{dataset}', {len(trained_model.vocabulary) - n_unseen} seen / {n_unseen} unseen "
        f"categories; selected epoch {info['epoch']} by val {info['selection_metric']}="
        f"{info['selection_value']:.4f}. Test: {shown}"
    )
    tags = {"ovmlr.fingerprint": info["fingerprint"], "ovmlr.epoch": str(info["epoch"])}
    lineage = info.get("lineage")
    if lineage:
        tags |= {
            "ovmlr.parent_uri": str(lineage["parent_uri"]),
            "ovmlr.parent_model": str(lineage["parent_name"]),
            "ovmlr.parent_version": str(lineage["parent_version"]),
            "ovmlr.init_vocabulary": lineage["vocabulary"],
        }
        description += f". Fine-tuned from {lineage['parent_uri']} (vocabulary {lineage['vocabulary']})"
    return ModelRegistration(
        trained=trained_model,
        dataset=dataset,
        selection_metric=info["selection_metric"],
        selection_value=info["selection_value"],
        description=description,
        model_card=model_card(trained_model, test_metrics, dataset),
        force_champion=recipe.registry.force_champion,
        tags=tags,
    )
