"""The epoch loop of C²SRT training: deterministic, resumable, one checkpoint per epoch.

Determinism: the shuffling of epoch ``e`` uses a generator seeded with ``(seed, e)`` and the dropout RNG is
re-seeded the same way inside :func:`torch.random.fork_rng` (the caller's global RNG is untouched), so a run
resumed from the checkpoint of epoch ``e`` continues exactly as the uninterrupted run would (on CPU).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ovmlr.backbones.precision import precision_dtype, resolve_precision
from ovmlr.core.params import known_fields
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.metrics import seen_metrics, zsl_gzsl_metrics
from ovmlr.reporting.progress import refresh_interval

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of the optimisation (paper Sec. 4.1 defaults where it gives them)."""

    mode: str = "frozen"  # frozen: cached backbone features; finetune: student encoder + distillation
    epochs: int = 20  # paper: 20 (NUS-WIDE), 8 (Open Images)
    batch_size: int = 64  # paper: 64
    lr: float = 1e-3  # AdamW learning rate, paper: 1e-3
    weight_decay: float = 5e-3  # AdamW weight decay, paper: 5e-3
    lambda_dist: float = 1.0  # λ of Eq. (12); only used in finetune mode
    dist_reduction: str = "mean"  # L_dist over D: mean (MKT's F.l1_loss, λ's scale) | sum (Eq. 2 literally)
    grad_clip: float | None = 1.0  # max gradient norm, None = off
    schedule: str = "cosine"  # cosine | constant (per step)
    warmup_steps: int = 0  # linear warm-up steps before the schedule
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 | fp16 | auto: autocast of the forward (precision_autocast)
    ks: tuple[int, ...] = (3, 5)  # top-K of P/R/F1
    eval_batch_size: int = 256
    resume: bool = False  # continue from the last checkpoint of the same fingerprint

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingConfig:
        """Build from a parameter dict; unknown keys are an error naming them."""
        if "amp" in params:
            raise ValueError(
                "training.loop.amp was never read and is gone: set training.loop.precision "
                "(fp32 | bf16 | fp16 | auto) instead"
            )
        values = known_fields(params, cls.__dataclass_fields__, "training.loop")
        if "ks" in values:
            values["ks"] = tuple(int(k) for k in values["ks"])
        if values.get("dist_reduction", "mean") not in ("mean", "sum"):
            raise ValueError(
                f"training.loop.dist_reduction must be 'mean' or 'sum', got {values['dist_reduction']!r}"
            )
        if values.get("precision", "fp32") not in ("fp32", "bf16", "fp16", "auto"):
            raise ValueError(
                f"training.loop.precision must be fp32, bf16, fp16 or auto, got {values['precision']!r}"
            )
        if values.get("mode", "frozen") not in ("frozen", "finetune"):
            raise ValueError(f"training.mode must be 'frozen' or 'finetune', got {values['mode']!r}")
        return cls(**values)


@dataclass
class TrainingState:
    """What a checkpoint restores."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def make_optimizer(model: nn.Module, cfg: TrainingConfig, steps_per_epoch: int):
    """AdamW with a per-step cosine (or constant) schedule and optional linear warm-up."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = max(1, cfg.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return optimizer, scheduler


def precision_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to the resolved ``precision`` on ``device`` (a no-op for fp32).

    Training keeps float32 master weights and optimiser state; only the forward's matmuls and the loss run
    in bf16 / fp16 (mixed precision). Whether that is faster is the hardware's answer, not ours:
    ``benchmarks/bench_training.py --precision`` measures it.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=precision_dtype(precision))


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """The loss scaler of a training run: active for fp16 only (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffling and dropout."""
    return seed * 1_000_003 + epoch


# loss_fn(model, batch, text [C, D], neighbours [C, K]) -> (loss, {"loss": ..., other parts})
LossFn = Callable[
    [nn.Module, dict[str, torch.Tensor], torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]
]


def train_one_epoch(  # noqa: PLR0913 - the loop's parts (TrainingTask's, optimiser, schedule)
    model: nn.Module,
    batches: Callable[[torch.Tensor], Iterator[dict[str, torch.Tensor]]],
    n_items: int,
    loss_fn: LossFn,
    vocabulary: tuple[torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    cfg: TrainingConfig,
    epoch: int,
    scaler: torch.amp.GradScaler | None = None,
    precision: str | None = None,
) -> dict[str, float]:
    """One pass over the training items; returns mean losses and images/s.

    The forward pass and loss run under :func:`precision_autocast` (weights and optimiser stay float32;
    fp16 scales the loss with ``scaler``, :func:`grad_scaler`, which the caller keeps across epochs, as it
    passes the ``precision`` it resolved once per run).
    """
    device = vocabulary[0].device  # the text features live where the model trains
    if precision is None:  # resolved by the caller once per run (``fit``), or here for a lone epoch
        precision = resolve_precision(cfg.precision, device, "training.loop.precision", autocast=True)
    scaler = scaler if scaler is not None else grad_scaler(precision, device)
    order = torch.randperm(n_items, generator=torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch)))
    totals: dict[str, float] = {}
    seen, start = 0, time.perf_counter()
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(epoch_seed(cfg.seed, epoch))
        bar = tqdm(
            batches(order),
            total=math.ceil(n_items / cfg.batch_size),
            desc=f"epoch {epoch}",
            leave=False,
            mininterval=refresh_interval(),
        )
        for batch in bar:
            with precision_autocast(precision, device):
                loss, parts = loss_fn(model, batch, *vocabulary)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            size = len(batch["labels"])
            seen += size
            for key, value in parts.items():
                totals[key] = totals.get(key, 0.0) + value * size
            ips = f"{seen / (time.perf_counter() - start):.0f}"
            bar.set_postfix(loss=f"{parts['loss']:.4f}", ips=ips, refresh=False)  # drawn at mininterval
    elapsed = time.perf_counter() - start
    stats = {f"train/{k}": v / max(1, seen) for k, v in totals.items()}
    stats["train/images_per_s"] = seen / max(elapsed, 1e-9)
    return stats


def validation_metrics(
    scores: np.ndarray, labels: np.ndarray, vocabulary: Vocabulary, ks: tuple[int, ...]
) -> dict[str, float]:
    """ZSL/GZSL metrics (mAP, P/R/F1@K) prefixed ``val/``; ``val/seen/...`` for a vocabulary without unseen.

    A vocabulary without unseen categories is the strict ``seen`` validation (the val split's seen columns):
    its metrics are the GZSL ones computed over the seen categories alone.
    """
    if not vocabulary.unseen_mask.any():
        metrics = seen_metrics(scores, labels, ks)
    else:
        metrics = zsl_gzsl_metrics(scores, labels, vocabulary.unseen_mask, ks=ks)
    return {f"val/{k}": float(v) for k, v in metrics.items()}


def config_dict(cfg: TrainingConfig) -> dict[str, Any]:
    """The training config as a JSON-able dict (for fingerprints and checkpoints)."""
    return asdict(cfg)
