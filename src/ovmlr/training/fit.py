"""``fit``: the resumable training generator (one checkpoint dict per epoch)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ovmlr.backbones.precision import resolve_precision
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.scoring import predict_scores
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.models import ranking_loss
from ovmlr.training.loop import (
    LossFn,
    TrainingConfig,
    TrainingState,
    config_dict,
    grad_scaler,
    make_optimizer,
    train_one_epoch,
    validation_metrics,
)

logger = logging.getLogger(__name__)


def frozen_batches(
    split: FeatureSplit, batch_size: int, device: torch.device
) -> Callable[[torch.Tensor], Iterator[dict[str, torch.Tensor]]]:
    """Batches of cached features in the order given (frozen mode)."""

    def batches(order: torch.Tensor) -> Iterator[dict[str, torch.Tensor]]:
        for start in range(0, len(order), batch_size):
            idx = np.sort(order[start : start + batch_size].numpy())
            yield {
                "global": torch.from_numpy(split.global_feats[idx]).to(device),
                "patches": torch.from_numpy(split.patch_feats[idx]).to(device),
                "labels": torch.from_numpy(split.labels[idx]).to(device),
            }

    return batches


def frozen_loss(
    model: nn.Module, batch: dict[str, torch.Tensor], text: torch.Tensor, neighbours: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. (11) ranking loss on cached features; distillation is a no-op with a frozen encoder."""
    logits = model(batch["global"], batch["patches"], text, neighbours)["logits"]
    loss = ranking_loss(logits, batch["labels"])
    return loss, {"loss": float(loss.detach()), "cls": float(loss.detach())}


@dataclass
class TrainingTask:
    """What ``fit`` optimises: frozen features into the head, or images through a student into the head.

    Attributes:
        module: The module optimised and checkpointed.
        batches: ``batches(order)`` yields training batches (dicts with at least ``labels``) in that order.
        loss: ``loss(module, batch, text, neighbours) -> (loss, parts)``.
        n_items: Number of training images.
        val_scores: ``val_scores(module, vocabulary) -> [N_val, C]`` scores of the validation images.
    """

    module: nn.Module
    batches: Callable[[torch.Tensor], Iterator[dict[str, torch.Tensor]]]
    loss: LossFn
    n_items: int
    val_scores: Callable[[nn.Module, Vocabulary], np.ndarray]


def frozen_task(head: nn.Module, train: FeatureSplit, val: FeatureSplit, cfg: TrainingConfig) -> TrainingTask:
    """Training on cached backbone features (``mode: frozen``)."""
    device = resolve_device(cfg.device)

    def val_scores(module: nn.Module, vocabulary: Vocabulary) -> np.ndarray:
        return predict_scores(
            module, val.global_feats, val.patch_feats, vocabulary, cfg.eval_batch_size, device
        )

    return TrainingTask(
        head, frozen_batches(train, cfg.batch_size, device), frozen_loss, len(train), val_scores
    )


def _checkpoint(
    run_id: str,
    state: TrainingState,
    model: nn.Module,
    optimizer,
    scheduler,
    cfg: TrainingConfig,
    scaler: torch.amp.GradScaler,
) -> dict[str, Any]:
    return {
        "fingerprint": run_id,
        "epoch": state.epoch,
        "model_state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizer_state": copy.deepcopy(optimizer.state_dict()),
        "scheduler_state": copy.deepcopy(scheduler.state_dict()),
        "scaler_state": scaler.state_dict(),  # empty unless fp16
        "history": list(state.history),
        "config": config_dict(cfg),
    }


def fit(
    task: TrainingTask,
    val_labels: np.ndarray,
    vocab_seen: Vocabulary,
    vocab_all: Vocabulary,
    cfg: TrainingConfig,
    run_id: str,
    resume_from: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Train epoch by epoch, validating over the full vocabulary after each one.

    Yields:
        One checkpoint dict per finished epoch: ``fingerprint``, ``epoch``, ``model_state`` (of
        ``task.module``), ``optimizer_state``, ``scheduler_state``, ``history`` (per-epoch metrics so far),
        ``config``.
    """
    device = resolve_device(cfg.device)
    model = task.module.to(device)
    steps_per_epoch = max(1, -(-task.n_items // cfg.batch_size))
    optimizer, scheduler = make_optimizer(model, cfg, steps_per_epoch)
    precision = resolve_precision(cfg.precision, device, "training.loop.precision", autocast=True)
    scaler = grad_scaler(precision, device)  # one per run: fp16's loss scale carries over epochs
    state = TrainingState()
    if resume_from is not None:
        model.load_state_dict(resume_from["model_state"])
        optimizer.load_state_dict(resume_from["optimizer_state"])
        scheduler.load_state_dict(resume_from["scheduler_state"])
        if resume_from.get("scaler_state"):
            scaler.load_state_dict(resume_from["scaler_state"])
        state = TrainingState(epoch=int(resume_from["epoch"]), history=list(resume_from["history"]))
        logger.info("Resuming training %s after epoch %d of %d", run_id, state.epoch, cfg.epochs)
    text = torch.from_numpy(vocab_seen.text).to(device)
    neighbours = torch.from_numpy(vocab_seen.neighbours).to(device)
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        stats = train_one_epoch(
            model,
            task.batches,
            task.n_items,
            task.loss,
            (text, neighbours),
            optimizer,
            scheduler,
            cfg,
            epoch,
            scaler,
            precision,
        )
        stats.update(validation_metrics(task.val_scores(model, vocab_all), val_labels, vocab_all, cfg.ks))
        stats["epoch"] = float(epoch)
        state.epoch = epoch
        state.history.append(stats)
        logger.info("epoch %d/%d %s", epoch, cfg.epochs, _headline(stats))
        yield _checkpoint(run_id, state, model, optimizer, scheduler, cfg, scaler)


def _headline(stats: dict[str, float]) -> str:
    """One log line: training loss, then the validation mAP and F1@K of both tasks."""
    keys = ["train/loss"] + [k for k in stats if k.startswith("val/") and ("mAP" in k or "F1" in k)]
    return " ".join(f"{k}={stats[k]:.4f}" for k in keys if k in stats)


def best_epoch(history: list[dict[str, float]], metric: str) -> tuple[int, float]:
    """The epoch with the highest validation ``metric`` (earliest on ties).

    Raises:
        ValueError: If the metric was never recorded.
    """
    key = metric if metric.startswith("val/") else f"val/{metric}"
    values = [(h[key], -int(h["epoch"])) for h in history if key in h and not np.isnan(h[key])]
    if not values:
        recorded = sorted(history[-1]) if history else []
        raise ValueError(f"Selection metric {key!r} was not recorded; recorded: {recorded}")
    value, neg_epoch = max(values)
    return -neg_epoch, float(value)
