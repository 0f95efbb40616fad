"""Nodes of the ``training`` pipeline: vocabulary, feature splits, training, selection, test, registration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.datasets.checkpoints import CheckpointStore
from ovmlr.datasets.mlflow_registry import ModelRegistration
from ovmlr.metrics import zsl_gzsl_metrics
from ovmlr.training.finetune import FinetuneConfig, encode_with_student, finetune_task
from ovmlr.training.fit import TrainingTask, best_epoch, fit, frozen_task
from ovmlr.training.loop import (
    FeatureSplit,
    TrainingConfig,
    config_dict,
    fingerprint,
    predict_scores,
    resolve_device,
)
from ovmlr.training.model_factory import build_model, resolve_model_config
from ovmlr.training.pyfunc import (
    C2SRTPyfuncModel,
    features_to_frame,
    model_code_paths,
    model_requirements,
)
from ovmlr.training.vocabulary import Vocabulary, build_vocabulary_from_tables, label_matrix

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


def assemble_split(
    image_embeddings: Any, image_keys: pd.DataFrame, labels: pd.DataFrame, vocabulary: Vocabulary, role: str
) -> FeatureSplit:
    """Cached features and labels of one split over the seen (``role='seen'``) or all categories.

    Images without cached features (listed in the feature report as unreadable) are left out and counted.
    """
    names = vocabulary.subset("seen").names if role == "seen" else vocabulary.names
    image_ids, y = label_matrix(labels, names)
    key_of = image_keys.drop_duplicates("image_id").set_index("image_id")["image_key"]
    present = np.isin(image_ids, key_of.index.to_numpy())
    if not present.all():
        logger.warning(
            "%d of %d images have no cached features; left out", int((~present).sum()), len(present)
        )
    image_ids, y = image_ids[present], y[present]
    global_feats, patch_feats = image_embeddings.load(key_of.loc[image_ids].tolist())
    return FeatureSplit(image_ids=image_ids, global_feats=global_feats, patch_feats=patch_feats, labels=y)


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


def make_training_task(
    cfg: TrainingConfig,
    head: torch.nn.Module,
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    backbone_spec: dict[str, Any],
    image_manifest: pd.DataFrame,
    finetune_params: dict[str, Any] | None,
) -> TrainingTask:
    if cfg.mode == "frozen":
        logger.info(
            "mode frozen: cached backbone features; the distillation loss is a no-op (encoder frozen)"
        )
        return frozen_task(head, train_split, val_split, cfg)
    backbone = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(cfg.device))
    ft = FinetuneConfig.from_params(finetune_params)
    logger.info(
        "mode finetune: student encoder (top %d blocks trained), λ_dist=%g",
        ft.trainable_blocks,
        cfg.lambda_dist,
    )
    return finetune_task(head, backbone, image_manifest, train_split, val_split, cfg, ft)


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


def _split_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def select_best_checkpoint(
    training_checkpoints: CheckpointStore, training_run: dict[str, Any], loop_params: dict[str, Any]
) -> dict[str, Any]:
    """The checkpoint of the epoch with the best validation metric (never the test split).

    In finetune mode the checkpoint holds the student encoder too (``student_state``).
    """
    cfg = TrainingConfig.from_params(loop_params)
    last = training_checkpoints.latest(training_run["fingerprint"])
    if last is None:
        raise ValueError(f"No checkpoint for training run {training_run['fingerprint']}")
    epoch, value = best_epoch(last["history"], cfg.selection_metric)
    state = training_checkpoints.load(training_run["fingerprint"], epoch)["model_state"]
    logger.info("Selected epoch %d of %d: val %s = %.4f", epoch, last["epoch"], cfg.selection_metric, value)
    finetuned = training_run["mode"] == "finetune"
    return {
        "mode": training_run["mode"],
        "model_config": training_run["model_config"],
        "model_state": _split_state(state, "head.") if finetuned else state,
        "student_state": _split_state(state, "student.") if finetuned else None,
        "epoch": epoch,
        "selection_metric": cfg.selection_metric,
        "selection_value": value,
        "fingerprint": training_run["fingerprint"],
        "history": last["history"],
    }


def encode_split(
    c2srt_trained: dict[str, Any],
    split: FeatureSplit,
    image_manifest: pd.DataFrame,
    backbone_spec: dict[str, Any],
    loop_params: dict[str, Any],
    finetune_params: dict[str, Any],
) -> FeatureSplit:
    """The split's features as the trained model sees them: cached (frozen) or through the student."""
    if c2srt_trained["mode"] == "frozen":
        return split
    cfg = TrainingConfig.from_params(loop_params)
    ft = FinetuneConfig.from_params(finetune_params)
    return encode_with_student(
        c2srt_trained["student_state"],
        split,
        image_manifest,
        backbone_spec,
        ft,
        cfg.eval_batch_size,
        cfg.device,
    )


def score_split(trained_model: dict[str, Any], split: FeatureSplit, vocabulary: Vocabulary) -> pd.DataFrame:
    """Scores of every image of a split over the full vocabulary: ``image_id`` + one column per category."""
    model = build_model(trained_model["model_config"])
    model.load_state_dict(trained_model["model_state"])
    scores = predict_scores(
        model, split.global_feats, split.patch_feats, vocabulary, 256, torch.device("cpu")
    )
    frame = pd.DataFrame(scores, columns=list(vocabulary.names))
    frame.insert(0, "image_id", split.image_ids)
    return frame


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
    trained_model: dict[str, Any],
    vocabulary: Vocabulary,
    val_split: FeatureSplit,
    test_metrics: dict[str, float],
    registry_params: dict[str, Any],
) -> ModelRegistration:
    """The pyfunc model with an input example, a description and the champion policy."""
    python_model = C2SRTPyfuncModel(
        trained_model["model_config"],
        trained_model["model_state"],
        vocabulary,
        num_patches=val_split.patch_feats.shape[1],
        mode=trained_model["mode"],
        student_state=trained_model["student_state"],
    )
    example = features_to_frame(val_split.global_feats[:2], val_split.patch_feats[:2], dtype=np.float64)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(test_metrics.items()) if "mAP" in k or "F1" in k)
    n_unseen = int(vocabulary.unseen_mask.sum())
    description = (
        f"C²SRT on dataset '{registry_params.get('dataset', '?')}', "
        f"{len(vocabulary) - n_unseen} seen / {n_unseen} unseen categories; "
        f"selected epoch {trained_model['epoch']} by val {trained_model['selection_metric']}="
        f"{trained_model['selection_value']:.4f}. Test: {shown}"
    )
    return ModelRegistration(
        python_model=python_model,
        input_example=example,
        selection_metric=trained_model["selection_metric"],
        selection_value=trained_model["selection_value"],
        description=description,
        force_champion=bool(registry_params.get("force_champion", False)),
        tags={"ovmlr.fingerprint": trained_model["fingerprint"], "ovmlr.epoch": str(trained_model["epoch"])},
        pip_requirements=model_requirements(),
        code_paths=model_code_paths(),
    )
