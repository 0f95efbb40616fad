"""Nodes of the ``training`` pipeline: vocabulary, feature splits, training, selection, test, registration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.backbones.spec import BackboneSpec
from ovmlr.datasets.checkpoints import CheckpointStore
from ovmlr.datasets.mlflow_registry import ModelRegistration
from ovmlr.metrics import zsl_gzsl_metrics
from ovmlr.trained.card import model_card
from ovmlr.trained.model import TrainedC2SRT, prompt_templates, split_module_state
from ovmlr.training.finetune import FinetuneConfig
from ovmlr.training.fit import best_epoch, fit
from ovmlr.training.loop import FeatureSplit, TrainingConfig, config_dict, fingerprint
from ovmlr.training.model_factory import build_model, resolve_model_config
from ovmlr.training.splits import assemble_split
from ovmlr.training.tasks import make_training_task
from ovmlr.training.vocabulary import Vocabulary, build_vocabulary_from_tables

logger = logging.getLogger(__name__)


def build_vocabulary(
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    category_neighbours: pd.DataFrame,
    prompt: str,
) -> Vocabulary:
    """The full vocabulary (seen + unseen) with the chosen prompt set's text features.

    Args:
        category_split: ``category_id``, ``name``, ``role`` per category.
        text_features: Long table of per-template and ensemble text features.
        category_neighbours: K related seen categories per category.
        prompt: ``__ensemble__`` (Eq. 24) or one template string (the single-prompt ablation).
    """
    vocabulary = build_vocabulary_from_tables(category_split, text_features, category_neighbours, prompt)
    logger.info(
        "Vocabulary: %d seen, %d unseen categories, K=%d neighbours, prompt %r",
        int((~vocabulary.unseen_mask).sum()),
        int(vocabulary.unseen_mask.sum()),
        vocabulary.neighbours.shape[1],
        prompt,
    )
    return vocabulary


def assemble_train_split(
    image_embeddings: Any, image_keys: pd.DataFrame, train_labels: pd.DataFrame, vocabulary: Vocabulary
) -> FeatureSplit:
    """The training split over the seen categories only."""
    return assemble_split(image_embeddings, image_keys, train_labels, vocabulary, role="seen")


def assemble_eval_split(
    image_embeddings: Any, image_keys: pd.DataFrame, labels: pd.DataFrame, vocabulary: Vocabulary
) -> FeatureSplit:
    """A validation or test split over all categories."""
    return assemble_split(image_embeddings, image_keys, labels, vocabulary, role="all")


def train_c2srt(
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    vocabulary: Vocabulary,
    backbone_info: dict[str, Any],
    backbone_spec: dict[str, Any],
    image_manifest: pd.DataFrame,
    training_resume: CheckpointStore,
    loop_params: dict[str, Any],
    model_params: dict[str, Any],
    finetune_params: dict[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Train C²SRT; yields after every epoch so each checkpoint is saved at once.

    Yields:
        ``(checkpoint, epoch metrics for MLflow, run summary)`` per epoch.
    """
    cfg = TrainingConfig.from_params(loop_params)
    model_config = resolve_model_config(model_params, backbone_info)
    finetune = finetune_params if cfg.mode == "finetune" else None
    run_id = fingerprint(
        config_dict(cfg) | {"resume": None},
        model_config,
        finetune,
        backbone_info.get("backbone_id"),
        vocabulary.text,
        vocabulary.neighbours,
        train_split.image_ids.astype(str).tolist(),
    )
    summary = {"fingerprint": run_id, "mode": cfg.mode, "model_config": model_config}
    resume_from = training_resume.latest(run_id) if cfg.resume else None
    if cfg.resume and resume_from is None:
        logger.info("resume: no checkpoint of run %s yet; training from scratch", run_id)
    if resume_from is not None and resume_from["epoch"] >= cfg.epochs:
        logger.info("Run %s already finished %d epochs; nothing to train", run_id, cfg.epochs)
        yield resume_from, {}, summary | {"epochs_done": int(resume_from["epoch"])}
        return
    head = build_model(model_config, seed=cfg.seed)
    task = make_training_task(cfg, head, train_split, val_split, backbone_spec, image_manifest, finetune)
    for checkpoint in fit(
        task, val_split.labels, vocabulary.subset("seen"), vocabulary, cfg, run_id, resume_from
    ):
        epoch = checkpoint["epoch"]
        metrics = {
            k: {"value": v, "step": epoch} for k, v in checkpoint["history"][-1].items() if k != "epoch"
        }
        yield checkpoint, metrics, summary | {"epochs_done": epoch}


def select_best_checkpoint(
    training_checkpoints: CheckpointStore,
    training_run: dict[str, Any],
    vocabulary: Vocabulary,
    backbone_spec: dict[str, Any],
    loop_params: dict[str, Any],
    finetune_params: dict[str, Any],
    prompt: str,
    templates: list[str],
    registry_params: dict[str, Any],
) -> TrainedC2SRT:
    """The trained model of the epoch with the best validation metric (never the test split).

    Args:
        training_checkpoints: Per-epoch checkpoints of the run.
        training_run: The run's fingerprint, mode and model config.
        vocabulary: The training vocabulary (seen + unseen).
        backbone_spec: The frozen backbone.
        loop_params: ``training.loop`` (the selection metric).
        finetune_params: ``training.finetune`` (the student's trainable blocks, finetune mode).
        prompt: ``training.prompt`` (ensemble or one template).
        templates: The prompt templates of the text features (``feature_extraction.templates``).
        registry_params: ``training.registry`` (the dataset name, kept in the model's info).
    """
    loop, ft = TrainingConfig.from_params(loop_params), FinetuneConfig.from_params(finetune_params)
    last = training_checkpoints.latest(training_run["fingerprint"])
    if last is None:
        raise ValueError(f"No checkpoint for training run {training_run['fingerprint']}")
    epoch, value = best_epoch(last["history"], loop.selection_metric)
    state = training_checkpoints.load(training_run["fingerprint"], epoch)["model_state"]
    logger.info("Selected epoch %d of %d: val %s = %.4f", epoch, last["epoch"], loop.selection_metric, value)
    head_state, student_state = split_module_state(state, training_run["mode"])
    return TrainedC2SRT(
        model_config=training_run["model_config"],
        head_state=head_state,
        vocabulary=vocabulary,
        backbone_spec=BackboneSpec.from_dict(backbone_spec),
        templates=prompt_templates(prompt, templates),
        student_state=student_state,
        trainable_blocks=ft.trainable_blocks if student_state is not None else 0,
        info={
            "dataset": registry_params.get("dataset", "?"),
            "epoch": epoch,
            "selection_metric": loop.selection_metric,
            "selection_value": value,
            "fingerprint": training_run["fingerprint"],
            "history": last["history"],
        },
        device="cpu",
    )


def encode_split(
    trained_model: TrainedC2SRT,
    split: FeatureSplit,
    image_manifest: pd.DataFrame,
    loop_params: dict[str, Any],
    finetune_params: dict[str, Any],
) -> FeatureSplit:
    """The split's features as the trained model sees them: cached (frozen) or through its student."""
    loop, ft = TrainingConfig.from_params(loop_params), FinetuneConfig.from_params(finetune_params)
    return trained_model.encode_split(split, image_manifest, ft.image_root, loop.eval_batch_size)


def score_split(trained_model: TrainedC2SRT, split: FeatureSplit) -> pd.DataFrame:
    """Scores of a split over the model's vocabulary: ``image_id`` + one column per category."""
    return trained_model.score_split(split)


def compute_metrics(
    scores: pd.DataFrame, split: FeatureSplit, vocabulary: Vocabulary, ks: list[int], prefix: str
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """ZSL/GZSL mAP and P/R/F1@K of a scored split, for MLflow (``{name: {value, step}}``) and as a dict."""
    if not np.array_equal(scores["image_id"].to_numpy(), split.image_ids):
        raise ValueError("scores and split list different images (or a different order)")
    values = scores[list(vocabulary.names)].to_numpy(dtype=np.float32)
    metrics = zsl_gzsl_metrics(values, split.labels, vocabulary.unseen_mask, ks=tuple(ks))
    flat = {f"{prefix}/{k}": float(v) for k, v in metrics.items()}
    for task in ("zsl", "gzsl"):
        shown = {k.split("/", 1)[1]: round(v, 4) for k, v in metrics.items() if k.startswith(task + "/")}
        logger.info("%s %s: %s", prefix, task.upper(), shown)
    return {k: {"value": v, "step": 0} for k, v in flat.items()}, flat


def compute_test_metrics(
    test_scores: pd.DataFrame, test_split: FeatureSplit, vocabulary: Vocabulary, loop_params: dict[str, Any]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Final test metrics of the selected model (ZSL: unseen only; GZSL: seen + unseen)."""
    ks = list(TrainingConfig.from_params(loop_params).ks)
    return compute_metrics(test_scores, test_split, vocabulary, ks, prefix="test")


def package_model(
    trained_model: TrainedC2SRT,
    test_metrics: dict[str, float],
    registry_params: dict[str, Any],
) -> ModelRegistration:
    """The trained model with its description, model card and champion policy, for the registry."""
    info = trained_model.info
    shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(test_metrics.items()) if "mAP" in k or "F1" in k)
    n_unseen = int(trained_model.vocabulary.unseen_mask.sum())
    dataset = str(registry_params.get("dataset", "?"))
    description = (
        f"C²SRT on dataset '{dataset}', {len(trained_model.vocabulary) - n_unseen} seen / {n_unseen} unseen "
        f"categories; selected epoch {info['epoch']} by val {info['selection_metric']}="
        f"{info['selection_value']:.4f}. Test: {shown}"
    )
    return ModelRegistration(
        trained=trained_model,
        dataset=dataset,
        selection_metric=info["selection_metric"],
        selection_value=info["selection_value"],
        description=description,
        model_card=model_card(trained_model, test_metrics, dataset),
        force_champion=bool(registry_params.get("force_champion", False)),
        tags={"ovmlr.fingerprint": info["fingerprint"], "ovmlr.epoch": str(info["epoch"])},
    )
