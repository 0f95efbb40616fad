"""PICO weights fitted on the training split only, into a head before training (``alignment: pico``); the
zero-shot baseline's are :func:`ovmlr.evaluation.scoring.fit_zero_shot_pico`."""

from __future__ import annotations

import logging

import torch
from torch import nn

from ovmlr.alignment.pico import PICOConfig, fit_pico
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary

logger = logging.getLogger(__name__)


def fit_head_alignment(
    head: nn.Module, train: FeatureSplit, seen: Vocabulary, config: PICOConfig
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
