"""A vocabulary whose text features come from a learnt CoOp prompt (the Table 5 "Prompt Tuning" row)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary

from .coop import CoOpConfig, context_text_features, learn_context

logger = logging.getLogger(__name__)


def coop_vocabulary(
    vocabulary: Vocabulary,
    train: FeatureSplit,
    backbone_spec: dict[str, Any],
    params: dict[str, Any] | None,
    seed: int,
) -> Vocabulary:
    """``vocabulary`` with every category's text feature from a CoOp context learnt on the seen categories.

    The context is trained on the training split's cached global image features and its seen labels
    (``train.labels`` columns are the seen categories, in vocabulary order), through the frozen text tower;
    the unseen categories get the same context with their own names (never seen in training). Neighbours
    and roles are unchanged.

    Args:
        vocabulary: Seen + unseen vocabulary (its text features are replaced).
        train: The training split over the seen categories.
        backbone_spec: The frozen backbone whose text tower encodes the prompts.
        params: :class:`~ovmlr.prompting.coop.CoOpConfig` fields (``ablation.coop``).
        seed: The row's seed (overrides ``params.seed``).
    """
    config = replace(CoOpConfig.from_params(params or {}), seed=int(seed))
    seen = vocabulary.subset("seen")
    if train.labels.shape[1] != len(seen):
        raise ValueError(
            f"the training split has {train.labels.shape[1]} label columns for {len(seen)} seen categories"
        )
    loaded = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device("auto"))
    logger.info(
        "CoOp: learning %d context vectors on %d seen categories, %d images, %d epochs",
        config.n_ctx,
        len(seen),
        len(train),
        config.epochs,
    )
    context = learn_context(
        loaded.model,
        loaded.tokenizer,
        list(seen.names),
        torch.from_numpy(train.global_feats),
        train.labels,
        config,
    )
    text = context_text_features(
        loaded.model, loaded.tokenizer, context, list(vocabulary.names), config.class_token_position
    )
    return replace(vocabulary, text=np.asarray(text, dtype=np.float32))
