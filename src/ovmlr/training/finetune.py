"""``mode: finetune``: the student image encoder is trained with the head, distilled towards the frozen
backbone's cached global features (Eq. 2) so it keeps CLIP's generalisation to unseen categories.

Images are read from the manifest and preprocessed with the backbone's transform (optionally its training
augmentation). The teacher features come from the embedding cache (no teacher forward pass) when the student
sees the cache's view (the evaluation transform); with ``augment: true`` the frozen tower encodes the same
augmented view the student sees, so student and teacher always compare one view (one extra frozen forward).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ovmlr.backbones.student import StudentImageEncoder, split_images, student_features
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.params import known_fields
from ovmlr.core.scoring import predict_scores
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.models import distillation_loss, ranking_loss, total_loss
from ovmlr.training.fit import TrainingTask
from ovmlr.training.loop import TrainingConfig


@dataclass(frozen=True)
class FinetuneConfig:
    """How the student encoder is trained (``training.finetune``)."""

    trainable_blocks: int = 1  # top ViT blocks trained (+ ln_post, proj); MKT's fix_layer idea
    augment: bool = False  # use the backbone's training transform (random crops can cut mosaic tiles)
    num_workers: int = 0  # DataLoader workers reading images
    image_root: str = "."  # relative manifest paths start here (the project root)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> FinetuneConfig:
        return cls(**known_fields(params, cls.__dataclass_fields__, "training.finetune"))


class FinetuneModel(nn.Module):
    """Student encoder followed by the C²SRT head; ``forward(images, text, neighbours)``.

    Shapes:
        images [B, 3, H, W], text [C, D], neighbours [C, K] -> the head's dict plus
        ``student_global`` [B, D] (for the distillation loss).
    """

    def __init__(self, student: StudentImageEncoder, head: nn.Module) -> None:
        super().__init__()
        self.student = student
        self.head = head

    def forward(self, images: torch.Tensor, text: torch.Tensor, neighbours: torch.Tensor) -> dict[str, Any]:
        global_feats, patch_feats = self.student(images)
        out = self.head(global_feats, patch_feats, text, neighbours)
        out["student_global"] = global_feats
        return out


def finetune_task(
    head: nn.Module,
    backbone: Any,
    manifest: pd.DataFrame,
    train: FeatureSplit,
    val: FeatureSplit,
    cfg: TrainingConfig,
    ft: FinetuneConfig,
) -> TrainingTask:
    """Training through the student encoder with L = L_cls + λ L_dist (Eq. 12)."""
    device = resolve_device(cfg.device)
    model = FinetuneModel(StudentImageEncoder(backbone.model.visual, ft.trainable_blocks), head)
    train_images = split_images(manifest, train, backbone, ft.augment, ft.image_root)
    val_images = split_images(manifest, val, backbone, False, ft.image_root)

    teacher = backbone.model.visual.eval()

    @torch.inference_mode()
    def teacher_global(images: torch.Tensor) -> torch.Tensor:
        """The frozen VLP's global feature of the same (augmented) view the student sees."""
        return teacher(images).float().clone()

    def batches(order: torch.Tensor) -> Iterator[dict[str, torch.Tensor]]:
        loader = DataLoader(
            Subset(train_images, order.tolist()),
            batch_size=cfg.batch_size,
            num_workers=ft.num_workers,
            shuffle=False,
        )
        for start, (batch, _) in zip(range(0, len(order), cfg.batch_size), loader, strict=True):
            idx = order[start : start + cfg.batch_size].numpy()
            images = batch.to(device)
            cached = torch.from_numpy(train.global_feats[idx])
            yield {
                "images": images,
                "teacher": teacher_global(images) if ft.augment else cached,
                "labels": torch.from_numpy(train.labels[idx]).to(device),
            }

    def loss(
        module: nn.Module, batch: dict[str, torch.Tensor], text: torch.Tensor, neighbours: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = module(batch["images"], text, neighbours)
        cls = ranking_loss(out["logits"], batch["labels"])
        dist = distillation_loss(
            out["student_global"],
            batch["teacher"].to(out["student_global"].device),
            reduction=cfg.dist_reduction,
        )
        total = total_loss(cls, dist, cfg.lambda_dist)
        return total, {name: float(x.detach()) for name, x in (("loss", total), ("cls", cls), ("dist", dist))}

    def val_scores(module: nn.Module, vocabulary: Vocabulary) -> np.ndarray:
        g, p = student_features(module.student, val_images, cfg.eval_batch_size, ft.num_workers, device)
        return predict_scores(
            module.head, g, p, vocabulary, cfg.eval_batch_size, device, zero_shot_global=val.global_feats
        )

    return TrainingTask(model, batches, loss, len(train), val_scores)
