"""Nodes of the ``training`` pipeline: vocabulary, feature splits, training, selection, test, registration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.features import FeatureSplit, assemble_split
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.core.params import fingerprint
from ovmlr.core.vocabulary import COOP_PROMPT, Vocabulary, build_vocabulary_from_tables, prompt_templates
from ovmlr.datasets.checkpoints import CheckpointStore
from ovmlr.datasets.mlflow_registry import ModelRegistration
from ovmlr.metrics import zsl_gzsl_metrics
from ovmlr.trained.card import model_card
from ovmlr.trained.model import TrainedC2SRT, split_module_state
from ovmlr.training.alignment import fit_head_alignment
from ovmlr.training.distributed import DistributedConfig, check_distributed, distributed_fit
from ovmlr.training.finetune import FinetuneConfig
from ovmlr.training.fit import best_epoch, fit
from ovmlr.training.loop import TrainingConfig, config_dict
from ovmlr.training.protocol import SelectionConfig, choose_ensemble_weight, chooser_data, selection_data
from ovmlr.training.tasks import make_training_task

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
    if prompt == COOP_PROMPT:
        raise ValueError(
            f"training.prompt '{COOP_PROMPT}' (prompt tuning) is a row of the ablation (Table 5, "
            "ablation.coop); the training pipeline uses fixed prompts: '__ensemble__' or one template"
        )
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


def prepare_selection(
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    vocabulary: Vocabulary,
    selection_params: dict[str, Any],
) -> dict[str, Any]:
    """What each training run validates on under ``training.selection.protocol`` (lax | seen | disjoint)."""
    selection = SelectionConfig.from_params(selection_params)
    logger.info(
        "Selection protocol %s: epoch%s chosen by %s%s",
        selection.protocol,
        " and zero-shot weight" if selection.zero_shot_weights else "",
        selection.name,
        "" if selection.strict else " (reads the val split's unseen categories)",
    )
    return selection_data(train_split, val_split, vocabulary, selection)


def _runs(
    train_split: FeatureSplit, data: dict[str, Any], selection: SelectionConfig
) -> list[tuple[str, FeatureSplit, FeatureSplit, Vocabulary]]:
    """``(role, train, val, vocabulary)`` of each run: the selection run first, then the final run."""
    runs = []
    if selection.protocol == "disjoint":
        runs.append(
            ("selection", data["selection_train"], data["selection_val"], data["selection_vocabulary"])
        )
    runs.append(("final", train_split, data["final_val"], data["final_vocabulary"]))
    return runs


def train_c2srt(
    train_split: FeatureSplit,
    selection_data: dict[str, Any],
    vocabulary: Vocabulary,
    backbone_info: dict[str, Any],
    backbone_spec: dict[str, Any],
    image_manifest: pd.DataFrame,
    training_resume: CheckpointStore,
    loop_params: dict[str, Any],
    model_params: dict[str, Any],
    finetune_params: dict[str, Any],
    selection_params: dict[str, Any],
    pico_params: dict[str, Any],
    distributed_params: dict[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Train C²SRT; yields after every epoch so each checkpoint is saved at once.

    With ``training.distributed.enabled`` the epochs run as DDP ranks under torchrun
    (:mod:`ovmlr.training.distributed`); this node, in the Kedro process, yields rank 0's checkpoints.

    Under the ``disjoint`` protocol a selection run (seen categories minus the pseudo-unseen ones, validated
    on seen + pseudo-unseen) trains first; its metrics are logged as ``disjoint/...``. The final run trains
    on every seen category and validates on what the protocol allows (``val/...``).

    Yields:
        ``(checkpoint, epoch metrics for MLflow, run summary)`` per epoch of each run.
    """
    cfg = TrainingConfig.from_params(loop_params)
    dist = DistributedConfig.from_params(distributed_params)
    check_distributed(dist, cfg)
    selection = SelectionConfig.from_params(selection_params)
    model_config = resolve_model_config(model_params, backbone_info)
    finetune = finetune_params if cfg.mode == "finetune" else None
    summary: dict[str, Any] = {"mode": cfg.mode, "model_config": model_config, "selection": selection.name}
    for role, train, val, vocab in _runs(train_split, selection_data, selection):
        run_id = fingerprint(
            config_dict(cfg) | {"resume": None},
            model_config,
            finetune,
            backbone_info.get("backbone_id"),
            vocab.text,
            vocab.neighbours,
            list(vocab.roles),
            train.image_ids.astype(str).tolist(),
            pico_params if model_config.get("alignment") == "pico" else None,
        )
        summary["fingerprint" if role == "final" else "selection_fingerprint"] = run_id
        rename = (lambda k: k) if role == "final" else _selection_metric_name
        resume_from = training_resume.latest(run_id) if cfg.resume else None
        if cfg.resume and resume_from is None:
            logger.info("resume: no checkpoint of %s run %s yet; training from scratch", role, run_id)
        if resume_from is not None and resume_from["epoch"] >= cfg.epochs:
            logger.info("%s run %s already finished %d epochs; nothing to train", role, run_id, cfg.epochs)
            yield resume_from, {}, summary | {"epochs_done": int(resume_from["epoch"])}
            continue
        logger.info("Training the %s run (%d categories, %d images)", role, len(vocab), len(train))
        head = build_model(model_config, seed=cfg.seed)
        if cfg.mode == "frozen" and not any(p.requires_grad for p in head.parameters()):
            raise ValueError(
                "this head has no trainable parameter on frozen features (head: mkt, or ISR/IST off): train "
                "it with training.loop.mode=finetune, or score it as a row of the ablation runner"
            )
        if resume_from is None:
            summary |= {
                f"{role}/{k}": v
                for k, v in fit_head_alignment(head, train, vocab.subset("seen"), pico_params).items()
            }
        if dist.enabled:
            checkpoints = distributed_fit(
                head, train, val, vocab, cfg, model_config, run_id, dist, resume_from
            )
        else:
            task = make_training_task(cfg, head, train, val, backbone_spec, image_manifest, finetune)
            checkpoints = fit(task, val.labels, vocab.subset("seen"), vocab, cfg, run_id, resume_from)
        for checkpoint in checkpoints:
            epoch = checkpoint["epoch"]
            metrics = {
                rename(k): {"value": v, "step": epoch}
                for k, v in checkpoint["history"][-1].items()
                if k != "epoch"
            }
            yield checkpoint, metrics, summary | {"epochs_done": epoch}


def _selection_metric_name(key: str) -> str:
    """``val/gzsl/mAP`` → ``disjoint/gzsl/mAP``; ``train/loss`` → ``disjoint/train/loss`` (selection run)."""
    return f"disjoint/{key.removeprefix('val/')}"


def select_best_checkpoint(
    training_checkpoints: CheckpointStore,
    training_run: dict[str, Any],
    vocabulary: Vocabulary,
    selection_data: dict[str, Any],
    backbone_spec: dict[str, Any],
    image_manifest: pd.DataFrame,
    loop_params: dict[str, Any],
    finetune_params: dict[str, Any],
    selection_params: dict[str, Any],
    prompt: str,
    templates: list[str],
    registry_params: dict[str, Any],
) -> TrainedC2SRT:
    """The trained model of the epoch chosen by the selection protocol (never the test split).

    ``lax`` / ``seen``: the final run's best epoch by its val metric. ``disjoint``: the selection run's best
    epoch by its pseudo-unseen GZSL metric, taken from the final run. With ``zero_shot_weights``, the output
    ensemble's weight is chosen at that epoch on the same validation data (the selection run's model for
    ``disjoint``) and written into the model's config.

    Args:
        training_checkpoints: Per-epoch checkpoints of the runs.
        training_run: The runs' fingerprints, mode and model config.
        vocabulary: The training vocabulary (seen + unseen).
        selection_data: What each run validated on (:func:`prepare_selection`).
        backbone_spec: The frozen backbone.
        image_manifest: Images (a fine-tuned selection model re-encodes the val split to choose the weight).
        loop_params: ``training.loop``.
        finetune_params: ``training.finetune`` (the student's trainable blocks, finetune mode).
        selection_params: ``training.selection``.
        prompt: ``training.prompt`` (ensemble or one template).
        templates: The prompt templates of the text features (``feature_extraction.templates``).
        registry_params: ``training.registry`` (the dataset name, kept in the model's info).
    """
    loop, ft = TrainingConfig.from_params(loop_params), FinetuneConfig.from_params(finetune_params)
    selection = SelectionConfig.from_params(selection_params)
    if training_run.get("selection") != selection.name:
        raise ValueError(
            f"the training run was selected by {training_run.get('selection')!r} but training.selection now "
            f"asks for {selection.name!r}: run the training node again with this selection"
        )
    final_id = training_run["fingerprint"]
    chooser_id = training_run["selection_fingerprint"] if selection.protocol == "disjoint" else final_id
    last, chooser_last = training_checkpoints.latest(final_id), training_checkpoints.latest(chooser_id)
    if last is None or chooser_last is None:
        raise ValueError(f"No checkpoint for training run {final_id if last is None else chooser_id}")
    epoch, value = best_epoch(chooser_last["history"], selection.metric)
    logger.info("Selected epoch %d of %d: %s = %.4f", epoch, last["epoch"], selection.name, value)
    model_config = dict(training_run["model_config"])

    def model_at(run_id: str, vocab: Vocabulary, config: dict[str, Any]) -> TrainedC2SRT:
        state = training_checkpoints.load(run_id, epoch)["model_state"]
        head_state, student_state = split_module_state(state, training_run["mode"])
        return TrainedC2SRT(
            model_config=config,
            head_state=head_state,
            vocabulary=vocab,
            backbone_spec=BackboneSpec.from_dict(backbone_spec),
            templates=prompt_templates(prompt, templates),
            student_state=student_state,
            trainable_blocks=ft.trainable_blocks if student_state is not None else 0,
            device="cpu",
        )

    weights_tried = None
    if selection.zero_shot_weights:
        vocab, val = chooser_data(selection_data, selection)
        chooser = model_at(chooser_id, vocab, model_config)
        weight, weights_tried = choose_ensemble_weight(
            chooser, val, selection, image_manifest, ft.image_root, loop.eval_batch_size, loop.ks
        )
        value = weights_tried[weight]
        logger.info("Zero-shot weight %.3g chosen on %s: %s", weight, selection.name, weights_tried)
        model_config["score"] = {**model_config["score"], "zero_shot_weight": weight}
    trained = model_at(final_id, vocabulary, model_config)
    trained.info = {
        "dataset": registry_params.get("dataset", "?"),
        "epoch": epoch,
        "selection_metric": selection.name,
        "selection_value": value,
        "selection_protocol": selection.protocol,
        "zero_shot_weight": model_config["score"].get("zero_shot_weight", 0.0),
        "zero_shot_weights_tried": None
        if weights_tried is None
        else {str(w): v for w, v in weights_tried.items()},
        "fingerprint": final_id,
        "history": last["history"],
        "selection_history": chooser_last["history"] if chooser_id != final_id else None,
    }
    return trained


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
