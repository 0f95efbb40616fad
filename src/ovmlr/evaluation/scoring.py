"""Test-split scores of the registered model (through its MLflow pyfunc ``predict``) and of the baselines.

Every method's scores are a DataFrame: ``image_id`` then one float32 column per vocabulary category, in the
order of the evaluated FeatureSplit (the ``test_scores`` layout of the training stage).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from ovmlr.alignment.pico import PICOConfig, PICOWeights, fit_pico, weighted_cosine
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.models import mkt_style_scores, zero_shot_scores
from ovmlr.trained.model import TrainedC2SRT

logger = logging.getLogger(__name__)

BASELINES = ("zero_shot", "mkt_style", "zero_shot_pico")  # the training-free methods beside C²SRT


def baseline_scores(
    split: FeatureSplit,
    text: np.ndarray,
    mkt_k: int,
    batch_size: int,
    device: torch.device,
    alignment_weights: torch.Tensor | None = None,
) -> dict[str, np.ndarray]:
    """Zero-shot (global feature vs text), MKT-style (global + top-k patches) and, given PICO weights,
    zero-shot with PICO's weighted cosine (``zero_shot_pico``) scores [N, C].

    MKT-style scores are normalised over the whole (seen + unseen) vocabulary in one pass, so their ZSL
    columns are those of the GZSL scoring (MKT's code rescores the unseen vocabulary alone for ZSL).
    """
    text_t = torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32)).to(device)
    methods = ["zero_shot", "mkt_style"] + ([] if alignment_weights is None else ["zero_shot_pico"])
    parts: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    w = None if alignment_weights is None else alignment_weights.to(device=device, dtype=torch.float32)
    for start in range(0, len(split), batch_size):
        g = torch.from_numpy(split.global_feats[start : start + batch_size]).to(device)
        p = torch.from_numpy(split.patch_feats[start : start + batch_size]).to(device)
        parts["zero_shot"].append(zero_shot_scores(g, text_t).float().cpu().numpy())
        parts["mkt_style"].append(mkt_style_scores(g, p, text_t, k=mkt_k).float().cpu().numpy())
        if w is not None:
            parts["zero_shot_pico"].append(weighted_cosine(g, text_t, w).float().cpu().numpy())
    empty = np.zeros((0, len(text)), dtype=np.float32)
    return {m: np.concatenate(chunks) if chunks else empty for m, chunks in parts.items()}


def score_trained(
    trained: TrainedC2SRT, split: FeatureSplit, image_manifest: pd.DataFrame, image_root: str, batch_size: int
) -> tuple[FeatureSplit, np.ndarray]:
    """The split as the trained model sees it (re-encoded through its student when fine-tuned) and its
    scores [N, C] over the model's vocabulary, in vocabulary order: the one scoring path of training's test
    metrics, the evaluation and the ablation."""
    encoded = trained.encode_split(split, image_manifest, image_root, batch_size)
    scores = trained.score_split(encoded, batch_size=batch_size)[list(trained.vocabulary.names)]
    return encoded, scores.to_numpy(dtype=np.float32)


def effective_mkt_k(requested: int, num_patches: int) -> int:
    """``min(requested, P)``; the cap is logged (the summary records the value used)."""
    if requested < 1:
        raise ValueError(f"evaluation.baselines.mkt_k must be >= 1, got {requested}")
    if requested > num_patches:
        logger.warning(
            "MKT-style baseline: k=%d > P=%d patches; using k=%d", requested, num_patches, num_patches
        )
    return min(requested, num_patches)


def scores_frame(image_ids: np.ndarray, scores: np.ndarray, vocabulary: Vocabulary) -> pd.DataFrame:
    """``image_id`` + one column per category."""
    frame = pd.DataFrame(scores, columns=list(vocabulary.names))
    frame.insert(0, "image_id", np.asarray(image_ids).astype(str))
    return frame


def score_matrix(frame: pd.DataFrame, split: FeatureSplit, vocabulary: Vocabulary) -> np.ndarray:
    """The [N, C] scores of a scores frame, checked to list the split's images in order.

    Raises:
        ValueError: If the images or categories differ from the split's / vocabulary's.
    """
    if not np.array_equal(frame["image_id"].to_numpy(dtype=str), split.image_ids.astype(str)):
        raise ValueError("a scores table lists different images (or another order) than the test split")
    missing = [n for n in vocabulary.names if n not in frame.columns]
    if missing:
        raise ValueError(f"a scores table lacks category columns {missing[:10]}")
    return frame[list(vocabulary.names)].to_numpy(dtype=np.float32)


def fit_zero_shot_pico(
    train_global: np.ndarray, train_labels: np.ndarray, seen_text: np.ndarray, config: PICOConfig
) -> PICOWeights:
    """PICO's weights for the zero-shot baseline: the training split's frozen global features and seen labels,
    and the seen categories' text features the baseline scores with.

    Shapes:
        train_global: [N, D], train_labels: [N, C_seen], seen_text: [C_seen, D] → weights [D]
    """
    fitted = fit_pico(train_global, seen_text, train_labels, config)
    logger.info(
        "PICO (zero-shot baseline) on %d training images: training mAP %s",
        len(train_global),
        {k: round(v, 4) for k, v in fitted.scores.items()},
    )
    return fitted
