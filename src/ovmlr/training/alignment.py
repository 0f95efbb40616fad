"""PICO weights fitted on the training split only: into a head before training (``alignment: pico``), and for
the zero-shot baseline (the evaluation pipeline and the ablation runner share :func:`fit_zero_shot_pico`)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from ovmlr.alignment.pico import PICOConfig, PICOWeights, fit_pico
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary

logger = logging.getLogger(__name__)


def fit_head_alignment(
    head: nn.Module, train: FeatureSplit, seen: Vocabulary, params: dict[str, Any] | None
) -> dict[str, float]:
    """Fit PICO's per-dimension weights on the training split's frozen global features, seen text features
    and seen labels, and set them into ``head`` (a no-op for ``alignment: cosine``).

    Returns:
        The training alignment scores (``pico/plain``, ``pico/pairs``, ``pico/final``: the training split's
        mAP of the zero-shot score with plain cosine, the pair estimate and the final weights); empty when
        the head uses the plain cosine.

    Raises:
        ValueError: If the split's label columns are not the seen vocabulary.
    """
    if getattr(head, "config", None) is None or head.config.alignment != "pico":
        return {}
    if train.labels.shape[1] != len(seen):
        raise ValueError(f"PICO: {train.labels.shape[1]} label columns for {len(seen)} seen categories")
    config = PICOConfig.from_params(params)
    fitted = fit_pico(train.global_feats, seen.text, train.labels, config)
    head.set_alignment_weights(torch.as_tensor(fitted.weights, dtype=torch.float32))
    scores = {f"pico/{k}": float(v) for k, v in fitted.scores.items()}
    logger.info(
        "PICO weights on %d training images, %d seen categories: %s (%d of %d iterations kept)",
        len(train),
        len(seen),
        {k: round(v, 4) for k, v in scores.items()},
        sum(bool(h.get("kept")) for h in fitted.history),
        len(fitted.history),
    )
    return scores


def fit_zero_shot_pico(
    train_global: np.ndarray, train_labels: np.ndarray, seen_text: np.ndarray, params: dict[str, Any] | None
) -> PICOWeights:
    """PICO's weights for the zero-shot baseline: the training split's frozen global features and seen labels,
    and the seen categories' text features the baseline scores with.

    Shapes:
        train_global: [N, D], train_labels: [N, C_seen], seen_text: [C_seen, D] → weights [D]
    """
    fitted = fit_pico(train_global, seen_text, train_labels, PICOConfig.from_params(params))
    logger.info(
        "PICO (zero-shot baseline) on %d training images: training mAP %s",
        len(train_global),
        {k: round(v, 4) for k, v in fitted.scores.items()},
    )
    return fitted
