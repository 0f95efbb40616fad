"""IST's attention over the mined neighbours on the test images (the paper's Fig. 7).

:func:`ist_attention` runs the model's IST on a set of test images, in batches, and keeps the coefficients α
(Eq. 22) of the requested categories; :func:`attention_report` turns them into
:func:`~ovmlr.reporting.attention.attention_table`'s long table for the report's target categories
(an empty table with its columns when the model has no IST).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.evaluation.selection import choose_relation_targets, subsample_rows
from ovmlr.reporting.attention import ATTENTION_TABLE_COLUMNS, attention_table
from ovmlr.trained.model import TrainedC2SRT

logger = logging.getLogger(__name__)

PARAMETER = "evaluation.reports.attention"  # named in the error messages


def has_ist(trained: TrainedC2SRT) -> bool:
    """Whether the model's head has IST (``use_ist: true`` and not ``head: mkt``)."""
    return trained.head().ist is not None


@torch.inference_mode()
def ist_attention(
    trained: TrainedC2SRT,
    split: FeatureSplit,
    rows: np.ndarray,
    categories: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> list[np.ndarray]:
    """IST's coefficients α of the model on split ``rows``, for the categories at indices ``categories``.

    Only the requested categories are kept from each batch, so a large vocabulary costs no more memory
    than the report needs.

    Returns:
        One float32 array per GAT layer; ``[..., k, :]`` sums to 1 over k.

    Raises:
        ValueError: If the model has no IST, or ``batch_size`` < 1.

    Shapes:
        rows: [n], categories: [T] → L × [n, T, K, H]
    """
    if batch_size < 1:
        raise ValueError(f"evaluation.batch_size must be >= 1, got {batch_size}")
    vocabulary: Vocabulary = trained.vocabulary
    model = copy.deepcopy(trained.head()).to(device).eval()
    text = torch.from_numpy(vocabulary.text).to(device)
    neighbours = torch.from_numpy(vocabulary.neighbours).to(device)
    keep = torch.as_tensor(np.asarray(categories, dtype=np.int64), device=device)
    batches = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        alpha = model.attention(
            torch.from_numpy(split.global_feats[batch]).to(device),
            torch.from_numpy(split.patch_feats[batch]).to(device),
            text,
            neighbours,
        )  # L × [b, C, K, H]
        batches.append([a.index_select(1, keep).float().cpu().numpy() for a in alpha])
    return [np.concatenate(layer) for layer in zip(*batches, strict=True)]


def compact_graph(
    vocabulary: Vocabulary, columns: Sequence[int], attention: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray, list[str], list[str]]:
    """The targets' attention re-indexed over the targets and their neighbours only.

    :func:`~ovmlr.reporting.attention.attention_table` wants [N, C, K, H] arrays over a vocabulary; the
    report needs just the T targets' rows. The compact vocabulary is the targets (first, in order), then the
    other categories their neighbours name; those other rows attend to themselves with α = 0 and are never
    reported.

    Shapes:
        columns: [T], attention: L × [N, T, K, H] → (L × [N, S, K, H], neighbours [S, K], names [S],
        roles [S]), S ≤ T·(K + 1)
    """
    columns = [int(c) for c in columns]
    targets_neighbours = vocabulary.neighbours[columns]  # [T, K]
    kept = list(dict.fromkeys([*columns, *targets_neighbours.ravel().tolist()]))
    position = np.full(len(vocabulary), -1, dtype=np.int64)
    position[kept] = np.arange(len(kept))  # vocabulary index → compact index
    n_targets, k = targets_neighbours.shape
    neighbours = np.repeat(np.arange(len(kept))[:, None], k, axis=1)  # [S, K], self for non-targets
    neighbours[:n_targets] = position[targets_neighbours]
    padded = []
    for alpha in attention:
        full = np.zeros((alpha.shape[0], len(kept), *alpha.shape[2:]), dtype=alpha.dtype)
        full[:, :n_targets] = alpha
        padded.append(full)
    names = [vocabulary.names[c] for c in kept]
    roles = [vocabulary.roles[c] for c in kept]
    return padded, neighbours, names, roles


def attention_report(
    trained: TrainedC2SRT,
    split: FeatureSplit,
    targets: Sequence[str] | None,
    max_targets: int,
    max_images: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> pd.DataFrame:
    """Fig. 7's table: the targets' attention over their neighbours, per IST layer, over the test images.

    Args:
        trained: The evaluated model.
        split: The test split as the model sees it (:meth:`TrainedC2SRT.encode_split`).
        targets: Category names; ``None`` / empty = the unseen categories.
        max_targets: At most this many targets (the first ones).
        max_images: Larger splits are subsampled to this many images, drawn with ``seed``.
        seed: Seed of the image subsample.
        batch_size: Images per forward pass.
        device: Where the forward passes run.

    Returns:
        :func:`~ovmlr.reporting.attention.attention_table`'s rows; empty, with its columns, when the model
        has no IST.

    Raises:
        ValueError: If a target is not a category, nothing is left to show, or the split is empty.
    """
    if not has_ist(trained):
        logger.warning("The evaluated model has no IST (use_ist=false or head mkt): no attention to show")
        return pd.DataFrame(columns=list(ATTENTION_TABLE_COLUMNS))
    vocabulary = trained.vocabulary
    chosen = choose_relation_targets(vocabulary, targets, max_targets, parameter=PARAMETER)
    if len(split) == 0:
        raise ValueError("the evaluated test split has no image: no attention to show")
    rows = subsample_rows(len(split), max_images, seed, purpose="IST attention")
    columns = [vocabulary.names.index(name) for name in chosen]
    attention = ist_attention(trained, split, rows, np.array(columns), batch_size, device)
    padded, neighbours, names, roles = compact_graph(vocabulary, columns, attention)
    return attention_table(padded, neighbours, names, roles, targets=chosen)
