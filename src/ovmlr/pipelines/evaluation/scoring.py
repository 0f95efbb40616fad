"""Test-split scores of the registered model (through its MLflow pyfunc ``predict``) and of the baselines.

Every method's scores are a DataFrame: ``image_id`` then one float32 column per vocabulary category, in the
order of the evaluated FeatureSplit (the ``test_scores`` layout of the training stage).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from ovmlr.models import mkt_style_scores, zero_shot_scores
from ovmlr.training.loop import FeatureSplit
from ovmlr.training.pyfunc import features_to_frame
from ovmlr.training.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

CHAMPION_ATTRIBUTES = ("vocabulary", "model_config", "model_state", "num_patches", "student_state")


def unwrap_champion(model: Any) -> Any:
    """The ``C2SRTPyfuncModel`` inside a loaded MLflow pyfunc model.

    Raises:
        TypeError: If ``model`` is not a loaded pyfunc model, or wraps something else than a C²SRT model.
    """
    if not hasattr(model, "unwrap_python_model"):
        raise TypeError(
            f"expected a loaded MLflow pyfunc model (mlflow.pyfunc.load_model), got {type(model)}"
        )
    python_model = model.unwrap_python_model()
    missing = [a for a in CHAMPION_ATTRIBUTES if not hasattr(python_model, a)]
    if missing:
        raise TypeError(f"the registered model wraps {type(python_model).__name__}, which lacks {missing}")
    return python_model


def predict_in_batches(
    model: Any, split: FeatureSplit, names: tuple[str, ...], batch_size: int
) -> np.ndarray:
    """Scores [N, C] from ``model.predict`` on ``features_to_frame`` batches of the split.

    Raises:
        ValueError: If ``batch_size`` < 1 or the model's output columns are not ``names``, in order.
    """
    if batch_size < 1:
        raise ValueError(f"evaluation.batch_size must be >= 1, got {batch_size}")
    out = []
    for start in range(0, len(split), batch_size):
        batch = slice(start, start + batch_size)
        scores = model.predict(features_to_frame(split.global_feats[batch], split.patch_feats[batch]))
        if list(scores.columns) != list(names):
            raise ValueError(
                f"the model scores categories {list(scores.columns)[:10]}..., expected its vocabulary "
                f"{list(names)[:10]}... in order"
            )
        out.append(scores.to_numpy(dtype=np.float32))
    return np.concatenate(out) if out else np.zeros((0, len(names)), dtype=np.float32)


@torch.inference_mode()
def baseline_scores(
    split: FeatureSplit, text: np.ndarray, mkt_k: int, batch_size: int, device: torch.device
) -> dict[str, np.ndarray]:
    """Zero-shot (global feature vs text) and MKT-style (global + top-k patches) scores [N, C].

    MKT-style scores are normalised over the whole (seen + unseen) vocabulary in one pass, so their ZSL
    columns are those of the GZSL scoring (MKT's code rescores the unseen vocabulary alone for ZSL).
    """
    text_t = torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32)).to(device)
    zero_shot, mkt = [], []
    for start in range(0, len(split), batch_size):
        g = torch.from_numpy(split.global_feats[start : start + batch_size]).to(device)
        p = torch.from_numpy(split.patch_feats[start : start + batch_size]).to(device)
        zero_shot.append(zero_shot_scores(g, text_t).float().cpu().numpy())
        mkt.append(mkt_style_scores(g, p, text_t, k=mkt_k).float().cpu().numpy())
    empty = np.zeros((0, len(text)), dtype=np.float32)
    return {
        "zero_shot": np.concatenate(zero_shot) if zero_shot else empty,
        "mkt": np.concatenate(mkt) if mkt else empty,
    }


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
