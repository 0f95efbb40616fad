"""The training task of a mode: cached features into the head (frozen), or images through a student."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import torch

from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.training.finetune import FinetuneConfig, finetune_task
from ovmlr.training.fit import TrainingTask, frozen_task
from ovmlr.training.loop import TrainingConfig

logger = logging.getLogger(__name__)


def make_training_task(
    cfg: TrainingConfig,
    head: torch.nn.Module,
    train_split: FeatureSplit,
    val_split: FeatureSplit,
    backbone_spec: dict[str, Any],
    image_manifest: pd.DataFrame,
    ft: FinetuneConfig,
) -> TrainingTask:
    if cfg.mode == "frozen":
        logger.info(
            "mode frozen: cached backbone features; the distillation loss is a no-op (encoder frozen)"
        )
        return frozen_task(head, train_split, val_split, cfg)
    # the student trains float32 weights, whatever precision the cached features were extracted in
    backbone = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(cfg.device), "fp32")
    logger.info(
        "mode finetune: student encoder (top %d blocks trained), λ_dist=%g",
        ft.trainable_blocks,
        cfg.lambda_dist,
    )
    return finetune_task(head, backbone, image_manifest, train_split, val_split, cfg, ft)
