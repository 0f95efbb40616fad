"""What the visual reports show: which test images, their top-K categories, ISR's patch selections, and
which categories' relation graphs."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.trained.model import TrainedC2SRT

logger = logging.getLogger(__name__)


def choose_images(
    image_ids: np.ndarray, labels: np.ndarray, unseen_mask: np.ndarray, n_images: int, seed: int
) -> list[str]:
    """``n_images`` test images drawn with ``seed``, from those with a known unseen positive first.

    Returns:
        Image ids in split order.

    Raises:
        ValueError: If ``n_images`` < 1 or the split is empty.
    """
    if n_images < 1 or len(image_ids) == 0:
        raise ValueError(
            f"need n_images >= 1 and a non-empty split, got {n_images} and {len(image_ids)} images"
        )
    rng = np.random.default_rng(seed)
    with_unseen = np.flatnonzero((labels[:, unseen_mask] == 1).any(axis=1))
    others = np.setdiff1d(np.arange(len(image_ids)), with_unseen)
    first = rng.permutation(with_unseen)[:n_images]
    if len(first) < n_images:
        logger.info("Only %d test images have an unseen positive; %d others are shown", len(first), n_images)
    rest = rng.permutation(others)[: n_images - len(first)]
    return [str(image_ids[i]) for i in np.sort(np.concatenate([first, rest]))]


def top_k_entries(
    scores: np.ndarray, labels: np.ndarray, vocabulary: Vocabulary, k: int
) -> list[tuple[int, dict[str, Any]]]:
    """``(column, entry)`` of the k best categories of one image (ties to the lower index, like the metrics).

    Shapes:
        scores, labels: [C] → k pairs; entry keys ``rank``, ``category_id``, ``name``, ``role``, ``score``,
        ``label``.
    """
    if not 1 <= k <= scores.shape[0]:
        raise ValueError(f"top-k must be in [1, {scores.shape[0]}], got {k}")
    return [
        (
            int(column),
            {
                "rank": rank,
                "category_id": int(vocabulary.category_ids[column]),
                "name": vocabulary.names[column],
                "role": vocabulary.roles[column],
                "score": float(scores[column]),
                "label": int(labels[column]),
            },
        )
        for rank, column in enumerate(np.argsort(-scores, kind="stable")[:k])
    ]


def row_positions(split: FeatureSplit, image_ids: Sequence[str]) -> np.ndarray:
    """Positions of ``image_ids`` in the split.

    Raises:
        ValueError: If an id is not in the split.
    """
    position = {str(i): n for n, i in enumerate(split.image_ids)}
    unknown = [i for i in image_ids if i not in position]
    if unknown:
        raise ValueError(f"images {unknown[:10]} are not in the evaluated test split")
    return np.array([position[i] for i in image_ids], dtype=np.int64)


def top_predictions_table(
    scores_by_method: Mapping[str, np.ndarray],
    split: FeatureSplit,
    vocabulary: Vocabulary,
    image_ids: Sequence[str],
    k: int,
) -> pd.DataFrame:
    """Top-k categories of every method for the chosen images.

    Columns: ``image_id``, ``method``, ``rank``, ``category_id``, ``name``, ``role``, ``score``, ``label``.
    """
    rows = row_positions(split, image_ids)
    records = []
    for method, scores in scores_by_method.items():
        for image_id, row in zip(image_ids, rows, strict=True):
            entries = top_k_entries(scores[row], split.labels[row], vocabulary, k)
            records += [{"image_id": image_id, "method": method, **entry} for _, entry in entries]
    return pd.DataFrame.from_records(records)


@torch.inference_mode()
def isr_forward(
    trained: TrainedC2SRT, split: FeatureSplit, rows: np.ndarray, device: torch.device
) -> dict[str, np.ndarray]:
    """Logits [n, C] and, with ISR on, the selection mask [n, C, P] of the model for split ``rows``."""
    vocabulary: Vocabulary = trained.vocabulary
    model = copy.deepcopy(trained.head()).to(device).eval()
    out = model(
        torch.from_numpy(split.global_feats[rows]).to(device),
        torch.from_numpy(split.patch_feats[rows]).to(device),
        torch.from_numpy(vocabulary.text).to(device),
        torch.from_numpy(vocabulary.neighbours).to(device),
        None if split.frozen_global is None else torch.from_numpy(split.frozen_global[rows]).to(device),
    )
    result = {"logits": out["logits"].float().cpu().numpy()}
    if "isr_mask" in out:
        result["isr_mask"] = out["isr_mask"].cpu().numpy()
    return result


def isr_selection_table(
    trained: TrainedC2SRT, split: FeatureSplit, image_ids: Sequence[str], top: int, device: torch.device
) -> pd.DataFrame:
    """ISR's selected patches for each chosen image's ``top`` best categories.

    Columns: those of :func:`top_predictions_table` without ``method``, plus ``patches`` (selected patch
    indices, row-major over the patch grid). Empty (with these columns) when the model has ISR off.
    """
    rows = row_positions(split, image_ids)
    out = isr_forward(trained, split, rows, device)
    columns = ["image_id", "rank", "category_id", "name", "role", "score", "label", "patches"]
    if "isr_mask" not in out:
        logger.warning("The evaluated model has ISR off (use_isr=false): no patch selection to show")
        return pd.DataFrame(columns=columns)
    vocabulary = trained.vocabulary
    records = []
    for n, (image_id, row) in enumerate(zip(image_ids, rows, strict=True)):
        for column, entry in top_k_entries(out["logits"][n], split.labels[row], vocabulary, top):
            patches = np.flatnonzero(out["isr_mask"][n, column]).tolist()
            records.append({"image_id": image_id, **entry, "patches": patches})
    return pd.DataFrame.from_records(records, columns=columns)


def choose_relation_targets(
    vocabulary: Vocabulary,
    targets: Sequence[str] | None,
    max_targets: int,
    parameter: str = "evaluation.reports.relation_graphs",
) -> list[str]:
    """The categories a report shows: ``targets``, or the first ``max_targets`` unseen ones.

    Args:
        parameter: The report's parameter block, named in the error messages.

    Raises:
        ValueError: If a named target is not in the vocabulary, or nothing is left to draw.
    """
    if targets:
        unknown = [t for t in targets if t not in vocabulary.names]
        if unknown:
            raise ValueError(f"{parameter}.targets {unknown} are not categories")
        chosen = list(dict.fromkeys(targets))
    else:
        chosen = [n for n, r in zip(vocabulary.names, vocabulary.roles, strict=True) if r == "unseen"]
    if max_targets < 1 or not chosen:
        raise ValueError(f"nothing to draw for {parameter}: targets {chosen}, max_targets {max_targets}")
    return chosen[:max_targets]


def subsample_rows(
    n_rows: int, limit: int, seed: int, purpose: str = "Precision-recall curves"
) -> np.ndarray:
    """All row positions if ``n_rows`` <= ``limit``, else ``limit`` of them drawn with ``seed`` (sorted).

    Args:
        purpose: What the rows are for (logged when subsampled).
    """
    if limit < 1:
        raise ValueError(f"the image limit must be >= 1, got {limit}")
    if n_rows <= limit:
        return np.arange(n_rows)
    logger.info("%s drawn on %d of %d test images (seed %d)", purpose, limit, n_rows, seed)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))
