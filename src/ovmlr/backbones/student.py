"""The trainable image encoder of the finetune training mode (Sec. 3.2) and its manifest image dataset.

C²SRT fine-tunes the vision encoder :math:`\\Phi_1`, initialised from CLIP, while a knowledge-distillation
loss keeps its global feature close to the frozen CLIP's (Eq. 2, ``L_dist = ||f_G - f_G^CLIP||_1``). The
student is a copy of the frozen backbone's image tower in which only the top ``trainable_blocks`` blocks
(transformer blocks of a ViT, stages of a convolutional tower) and the output head are trained, the rest
frozen (MKT's ``fix_layer``). At initialisation its outputs equal the frozen backbone's, i.e. the cached
features.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from ovmlr.core.features import FeatureSplit

from .features import encode_image_tokens, output_width
from .images import ImageFileDataset, resolve_paths


class StudentImageEncoder(nn.Module):
    """A trainable copy of a frozen open_clip image tower (a ViT, or a timm convolutional tower).

    Args:
        visual: The frozen backbone's image tower (``model.visual``); it is copied, never modified.
        trainable_blocks: How many of the top blocks are trained: transformer blocks of a ViT, stages of a
            convolutional tower (0: only the output head: ``ln_post`` and ``proj``, or the projection).

    Batch-norm statistics stay frozen in training (the teacher's), so at initialisation the student's
    features equal the frozen backbone's, i.e. the cached ones, in training and evaluation alike.

    Shapes:
        images ``[B, 3, H, W]`` -> ``(global [B, D], patches [B, P, D])``.
    """

    def __init__(self, visual: nn.Module, trainable_blocks: int) -> None:
        super().__init__()
        blocks = top_blocks(visual)
        if not 0 <= trainable_blocks <= len(blocks):
            raise ValueError(f"trainable_blocks must be in [0, {len(blocks)}], got {trainable_blocks}")
        self.trainable_blocks = trainable_blocks
        self.visual = copy.deepcopy(visual)
        self.visual.requires_grad_(False)
        copied = top_blocks(self.visual)
        for block in copied[len(copied) - trainable_blocks :]:
            block.requires_grad_(True)
        for part in output_head(self.visual):
            part.requires_grad_(True)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Global feature and projected patch tokens (Eq. 1), like the frozen backbone's cached ones."""
        return encode_image_tokens(self.visual, images)

    def train(self, mode: bool = True) -> StudentImageEncoder:
        """Training mode everywhere except batch norm, whose statistics stay the frozen backbone's."""
        super().train(mode)
        for module in self.visual.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def __repr__(self) -> str:
        blocks, width = len(top_blocks(self.visual)), output_width(self.visual)
        name = type(self).__name__
        return f"{name}(trainable_blocks={self.trainable_blocks}/{blocks}, out_dim={width})"


def top_blocks(visual: nn.Module) -> list[nn.Module]:
    """The tower's blocks, bottom to top: a ViT's transformer blocks, a timm tower's stages.

    Raises:
        TypeError: Another kind of image tower.
    """
    if isinstance(visual, VisionTransformer):
        return list(visual.transformer.resblocks)
    if isinstance(visual, TimmModel):
        trunk = visual.trunk
        if hasattr(trunk, "stages"):
            return list(trunk.stages)
        layers = [getattr(trunk, f"layer{i}") for i in range(1, 5) if hasattr(trunk, f"layer{i}")]
        if layers:
            return layers
    raise TypeError(
        f"StudentImageEncoder needs an open_clip VisionTransformer or a timm tower with stages, "
        f"got {type(visual).__name__}"
    )


def output_head(visual: nn.Module) -> list[nn.Module | nn.Parameter]:
    """What maps the top block's tokens into the joint space (always trained): ``ln_post`` and ``proj`` of
    a ViT, the projection head of a timm tower."""
    if isinstance(visual, TimmModel):
        return [visual.head]
    return [visual.ln_post] + ([visual.proj] if visual.proj is not None else [])


class ManifestImageDataset(ImageFileDataset):
    """The images of an ``image_manifest`` (or a subset of its rows) with the backbone's preprocessing.

    Args:
        manifest: Rows with ``image_id`` and ``path`` (absolute, or relative to ``image_root``).
        preprocess: The backbone's inference transform.
        image_size: ``(H, W)`` of the preprocessed images.
        image_root: Folder relative paths start from (the project root).
        augment: A training transform (e.g. the backbone's ``preprocess_train``) used instead of
            ``preprocess``; ``None`` for none.

    Items are ``(image [3, H, W], image_id)``; an undecodable file raises with its path.
    """

    def __init__(
        self,
        manifest: pd.DataFrame,
        preprocess: Callable[[Image.Image], torch.Tensor],
        image_size: tuple[int, int],
        image_root: str = ".",
        augment: Callable[[Image.Image], torch.Tensor] | None = None,
    ) -> None:
        missing = [c for c in ("image_id", "path") if c not in manifest.columns]
        if missing:
            raise ValueError(f"image manifest lacks columns {missing}")
        paths = resolve_paths(manifest["path"].astype(str).tolist(), image_root)
        super().__init__(paths, augment or preprocess, image_size, skip_errors=False)
        self.image_ids = manifest["image_id"].astype(str).tolist()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:  # type: ignore[override]
        image, _ = super().__getitem__(index)
        return image, self.image_ids[index]


def split_images(
    manifest: pd.DataFrame, split: FeatureSplit, backbone: Any, augment: bool, image_root: str
) -> ManifestImageDataset:
    """The split's images, in the split's order, with the backbone's preprocessing."""
    rows = manifest.drop_duplicates("image_id").set_index("image_id").loc[split.image_ids].reset_index()
    size = backbone.model.visual.image_size
    size = tuple(size) if isinstance(size, tuple | list) else (size, size)
    return ManifestImageDataset(
        rows, backbone.preprocess, size, image_root, augment=backbone.preprocess_train if augment else None
    )


@torch.inference_mode()
def student_features(
    student: nn.Module, images: ManifestImageDataset, batch_size: int, num_workers: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Global [N, D] and patch [N, P, D] features of a dataset's images through the student."""
    student.eval()
    out_g, out_p = [], []
    for batch, _ in DataLoader(images, batch_size=batch_size, num_workers=num_workers, shuffle=False):
        g, p = student(batch.to(device))
        out_g.append(g.float().cpu().numpy())
        out_p.append(p.float().cpu().numpy())
    return np.concatenate(out_g), np.concatenate(out_p)
