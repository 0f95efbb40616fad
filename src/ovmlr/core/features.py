"""Image features as every stage passes them on: a cache chunk, and one split's features with its labels.

Shapes: N images, P patches, D feature width, C categories.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .vocabulary import Vocabulary, label_matrix

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingChunk:
    """Features of a batch of images of one backbone, as the extraction node yields them.

    Attributes:
        backbone_id: The backbone that produced them (selects the cache folder).
        image_keys: Content hashes, one per row.
        global_feats: ``[N, D]`` float32 (rows of failed images are stored as zeros).
        patch_feats: ``[N, P, D]`` float32 (rows of failed images are stored as zeros).
        errors: Per row ``None`` (encoded) or why the image could not be used.
    """

    backbone_id: str
    image_keys: Sequence[str]
    global_feats: np.ndarray
    patch_feats: np.ndarray
    errors: Sequence[str | None]

    def __post_init__(self) -> None:
        n = len(self.image_keys)
        if self.global_feats.ndim != 2 or self.patch_feats.ndim != 3 or len(self.errors) != n:
            raise ValueError(
                f"EmbeddingChunk of {n} keys: global must be [N, D], patches [N, P, D] and errors [N]; got "
                f"{self.global_feats.shape}, {self.patch_feats.shape}, {len(self.errors)} errors"
            )
        if self.global_feats.shape[0] != n or self.patch_feats.shape[0] != n:
            raise ValueError(f"EmbeddingChunk: {n} keys but {self.global_feats.shape[0]} feature rows")

    @classmethod
    def empty(cls, backbone_id: str, dim: int, num_patches: int) -> EmbeddingChunk:
        """A chunk with no row (what a warm run yields)."""
        return cls(
            backbone_id, [], np.zeros((0, dim), np.float32), np.zeros((0, num_patches, dim), np.float32), []
        )


@dataclass
class FeatureSplit:
    """Features and labels of one split, in the same image order.

    Attributes:
        image_ids: [N] image ids.
        global_feats: float32 [N, D] backbone global features (the distillation target in finetune mode).
        patch_feats: float32 [N, P, D] backbone patch features.
        labels: int8 [N, C] labels over the split's vocabulary (1 / 0 / -1 unknown).
        frozen_global: float32 [N, D] the frozen backbone's global features when ``global_feats`` come from
            a fine-tuned student (the zero-shot term of the output ensemble); ``None``: ``global_feats`` are
            the frozen backbone's.
    """

    image_ids: np.ndarray
    global_feats: np.ndarray
    patch_feats: np.ndarray
    labels: np.ndarray
    frozen_global: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_ids)


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


def assemble_seen_split(
    image_embeddings: Any, image_keys: pd.DataFrame, labels: pd.DataFrame, vocabulary: Vocabulary
) -> FeatureSplit:
    """A split over the seen categories only (what training trains on)."""
    return assemble_split(image_embeddings, image_keys, labels, vocabulary, role="seen")


def assemble_full_split(
    image_embeddings: Any, image_keys: pd.DataFrame, labels: pd.DataFrame, vocabulary: Vocabulary
) -> FeatureSplit:
    """A split over every category, seen and unseen (validation and test)."""
    return assemble_split(image_embeddings, image_keys, labels, vocabulary, role="all")
