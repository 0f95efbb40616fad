"""Selection protocols: which validation data may decide the epoch, the zero-shot weight and the champion.

Every choice made during training (the epoch kept, ``score.zero_shot_weight``, champion promotion) reads a
validation metric. Three protocols (``training.selection.protocol``):

* ``lax``: the val split's GZSL metric over seen **and unseen** categories. The unseen categories are the test
  task's categories, so selection sees labels of the categories it is later scored on (what many ZSL codes
  do; kept to measure the difference).
* ``seen``: the val split over the seen categories only (``seen/mAP``): strict, cheap, but blind to
  unseen-category behaviour, so it cannot choose the zero-shot weight.
* ``disjoint``: the class-disjoint validation of the standard GZSL protocol (Xian et al., TPAMI 2019): a
  seeded fraction of the *seen* categories is held out as pseudo-unseen, a selection run trains on the
  remaining seen categories, and its val metrics over seen + pseudo-unseen (GZSL) choose the epoch and the
  zero-shot weight; the final model trains on all seen categories and keeps the chosen epoch. The true
  unseen categories are read by nothing but the test.

Strict protocols never receive an unseen column: :func:`seen_columns` drops them from label tables and
:func:`check_strict` refuses a vocabulary that still has one.

Neighbours in the disjoint vocabulary: a held-out category may not send information in training, so every
category's neighbour list loses its held-out entries and is topped up, in text-similarity order, from the
remaining seen categories (:func:`disjoint_vocabulary`) — the mined relations are kept where they can be.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.core.features import FeatureSplit
from ovmlr.core.params import known_fields
from ovmlr.core.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

PROTOCOLS = ("lax", "seen", "disjoint")
SELECTION_PREFIX = {"lax": "val", "seen": "val", "disjoint": "disjoint"}


@dataclass(frozen=True)
class SelectionConfig:
    """``training.selection``: how the epoch, the zero-shot weight and the champion are chosen.

    Attributes:
        protocol: ``lax`` | ``seen`` | ``disjoint`` (see the module docstring).
        metric: Validation metric (higher is better): ``gzsl/mAP`` for ``lax`` / ``disjoint`` (the
            pseudo-unseen GZSL task), ``seen/mAP`` for ``seen``; any recorded key of that protocol works.
        held_out_fraction: ``disjoint``: fraction of the seen categories held out as pseudo-unseen.
        seed: ``disjoint``: seed of the held-out draw.
        zero_shot_weights: Grid of ``score.zero_shot_weight`` values chosen from on the protocol's validation
            data at the selected epoch; ``None`` keeps the model config's value.
    """

    protocol: str = "disjoint"
    metric: str = "gzsl/mAP"
    held_out_fraction: float = 0.2
    seed: int = 0
    zero_shot_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"training.selection.protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.protocol == "seen" and not self.metric.startswith("seen/"):
            raise ValueError(
                f"training.selection.protocol 'seen' reads seen categories only: metric must be seen/..., "
                f"got {self.metric!r}"
            )
        if self.protocol != "seen" and not self.metric.startswith(("zsl/", "gzsl/")):
            raise ValueError(
                f"training.selection.metric must be zsl/<metric> or gzsl/<metric> (e.g. gzsl/mAP) for "
                f"protocol {self.protocol!r}, got {self.metric!r}"
            )
        if self.protocol != "seen" and self.metric.startswith("seen/"):
            raise ValueError(f"metric {self.metric!r} belongs to protocol 'seen', not {self.protocol!r}")
        if not 0.0 < self.held_out_fraction < 1.0:
            raise ValueError(
                f"training.selection.held_out_fraction must be in (0, 1), got {self.held_out_fraction}"
            )
        if self.zero_shot_weights is not None:
            if self.protocol == "seen":
                raise ValueError(
                    "training.selection.zero_shot_weights: the 'seen' protocol has no unseen category to "
                    "choose the zero-shot weight on; use protocol 'disjoint' (or null weights)"
                )
            bad = [w for w in self.zero_shot_weights if not 0.0 <= w <= 1.0]
            if not self.zero_shot_weights or bad:
                raise ValueError(
                    f"training.selection.zero_shot_weights must be values in [0, 1], got {bad or '[]'}"
                )

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> SelectionConfig:
        values = known_fields(params, cls.__dataclass_fields__, "training.selection")
        weights = values.get("zero_shot_weights")
        if weights is not None:
            if not isinstance(weights, list | tuple):
                raise ValueError(
                    f"training.selection.zero_shot_weights must be a list of weights, got {weights!r}"
                )
            values["zero_shot_weights"] = tuple(float(w) for w in weights)
        return cls(**values)

    @property
    def name(self) -> str:
        """The selection's name in histories, model info and the registry (``disjoint/gzsl/mAP``)."""
        return f"{SELECTION_PREFIX[self.protocol]}/{self.metric}"

    @property
    def strict(self) -> bool:
        """True when no selection decision reads an unseen category."""
        return self.protocol != "lax"


def seen_columns(labels: pd.DataFrame, category_split: pd.DataFrame) -> pd.DataFrame:
    """A wide label table without the unseen categories' columns (what strict selection may read).

    Raises:
        ValueError: If ``category_split`` lacks ``name`` / ``role``.
    """
    missing = [c for c in ("name", "role") if c not in category_split.columns]
    if missing:
        raise ValueError(f"category_split lacks column(s) {missing}")
    unseen = set(category_split.loc[category_split["role"] == "unseen", "name"].astype(str))
    return labels[[c for c in labels.columns if c not in unseen]]


def check_strict(vocabulary: Vocabulary, split: FeatureSplit, true_unseen: set[str]) -> None:
    """Refuse validation data that still holds a true unseen category (strict protocols).

    Raises:
        ValueError: Naming the unseen categories found, or if the split's columns do not match.
    """
    leaked = sorted(set(vocabulary.names) & true_unseen)
    if leaked:
        raise ValueError(f"strict selection received unseen categories {leaked[:5]} (of {len(leaked)})")
    if split.labels.shape[1] != len(vocabulary):
        raise ValueError(
            f"selection split has {split.labels.shape[1]} label columns for {len(vocabulary)} categories"
        )


def held_out_mask(n_seen: int, fraction: float, seed: int, k: int) -> np.ndarray:
    """Seeded choice of ``round(fraction · S)`` seen categories (at least 1) to hold out as pseudo-unseen.

    At least ``k + 1`` categories stay seen, so every category can keep K distinct seen neighbours.

    Raises:
        ValueError: If fewer than ``k + 2`` seen categories exist.
    """
    n_held = max(1, round(fraction * n_seen))
    n_held = min(n_held, n_seen - (k + 1))
    if n_held < 1:
        raise ValueError(
            f"class-disjoint validation needs at least K+2={k + 2} seen categories, got {n_seen}"
        )
    chosen = np.random.default_rng(seed).choice(n_seen, size=n_held, replace=False)
    mask = np.zeros(n_seen, dtype=bool)
    mask[chosen] = True
    return mask


def topped_up_neighbours(
    neighbours: np.ndarray, text: np.ndarray, allowed: np.ndarray
) -> tuple[np.ndarray, int]:
    """Each row's neighbours restricted to ``allowed`` categories, topped up by text cosine to K again.

    Args:
        neighbours: [C, K] indices into the same C categories.
        text: [C, D] L2-normalised text features.
        allowed: [C] bool, the categories that may be neighbours.

    Returns:
        ``([C, K] neighbours, number of entries replaced)``. Kept entries keep their order; never itself.

    Shapes:
        neighbours: [C, K], text: [C, D], allowed: [C] → [C, K]
    """
    n, k = neighbours.shape
    similarity = text @ text.T  # [C, C]
    result = np.empty_like(neighbours)
    replaced = 0
    for i in range(n):
        kept = [int(j) for j in neighbours[i] if allowed[j] and j != i]
        kept = list(dict.fromkeys(kept))
        order = np.argsort(-similarity[i], kind="stable")
        for j in order:
            if len(kept) == k:
                break
            if allowed[j] and j != i and int(j) not in kept:
                kept.append(int(j))
        if len(kept) < k:
            raise ValueError(f"category {i} cannot get {k} allowed neighbours ({int(allowed.sum())} allowed)")
        replaced += k - sum(1 for j in neighbours[i] if allowed[j] and j != i)
        result[i] = kept
    return result, replaced


def disjoint_vocabulary(vocabulary: Vocabulary, fraction: float, seed: int) -> Vocabulary:
    """The seen categories with a seeded subset relabelled ``unseen`` (pseudo-unseen), neighbours re-drawn.

    Args:
        vocabulary: The training vocabulary (its true unseen categories are dropped here).
        fraction: Fraction of the seen categories held out.
        seed: Seed of the draw.

    Returns:
        A vocabulary over the seen categories: roles ``seen`` (still trained on) and ``unseen``
        (pseudo-unseen); every neighbour is a remaining seen category.
    """
    seen = vocabulary.subset("seen")
    k = seen.neighbours.shape[1]
    held = held_out_mask(len(seen), fraction, seed, k)
    neighbours, replaced = topped_up_neighbours(seen.neighbours, seen.text, ~held)
    logger.info(
        "Class-disjoint validation: %d of %d seen categories held out as pseudo-unseen (seed %d); %d of %d "
        "neighbour entries re-drawn by text similarity",
        int(held.sum()),
        len(seen),
        seed,
        replaced,
        neighbours.size,
    )
    return Vocabulary(
        category_ids=seen.category_ids,
        names=seen.names,
        roles=tuple("unseen" if h else "seen" for h in held),
        text=seen.text,
        neighbours=neighbours,
    )


def restrict_split(split: FeatureSplit, names: tuple[str, ...], to: tuple[str, ...]) -> FeatureSplit:
    """The split with label columns ``to`` (a subset of its columns ``names``); features shared, not copied.

    Raises:
        ValueError: If a name of ``to`` is not a column of the split.
    """
    position = {n: i for i, n in enumerate(names)}
    missing = [n for n in to if n not in position]
    if missing:
        raise ValueError(f"the split has no label column for {missing[:5]}")
    columns = [position[n] for n in to]
    return FeatureSplit(
        split.image_ids, split.global_feats, split.patch_feats, split.labels[:, columns], split.frozen_global
    )


def selection_data(
    train: FeatureSplit, val: FeatureSplit, vocabulary: Vocabulary, config: SelectionConfig
) -> dict[str, Any]:
    """The data each run validates on under the protocol.

    Returns:
        ``final_val`` / ``final_vocabulary``: what the final run (all seen categories) validates on — the
        full val split for ``lax``, its seen columns otherwise; and for ``disjoint`` the selection run's
        ``selection_train`` / ``selection_val`` / ``selection_vocabulary`` (else ``None``).
    """
    seen = vocabulary.subset("seen")
    true_unseen = {n for n, r in zip(vocabulary.names, vocabulary.roles, strict=True) if r == "unseen"}
    if config.protocol == "lax":
        return {
            "final_val": val,
            "final_vocabulary": vocabulary,
            "selection_train": None,
            "selection_val": None,
            "selection_vocabulary": None,
        }
    seen_val = restrict_split(val, vocabulary.names, seen.names)
    check_strict(seen, seen_val, true_unseen)
    out = {"final_val": seen_val, "final_vocabulary": seen}
    if config.protocol == "seen":
        return out | {"selection_train": None, "selection_val": None, "selection_vocabulary": None}
    pseudo = disjoint_vocabulary(vocabulary, config.held_out_fraction, config.seed)
    check_strict(pseudo, seen_val, true_unseen)
    train_seen = pseudo.subset("seen").names
    return out | {
        "selection_train": restrict_split(train, seen.names, train_seen),
        "selection_val": seen_val,
        "selection_vocabulary": pseudo,
    }


def choose_zero_shot_weight(
    cosine: np.ndarray,
    zero_shot: np.ndarray,
    labels: np.ndarray,
    unseen_mask: np.ndarray,
    weights: tuple[float, ...],
    metric: str,
    ks: tuple[int, ...],
) -> tuple[float, dict[float, float]]:
    """The weight of the output ensemble with the best validation ``metric`` (the smallest on ties).

    Scores are blended as :func:`~ovmlr.models.prediction.zero_shot_ensemble` does, from one forward pass.

    Shapes:
        cosine, zero_shot, labels: [N, C], unseen_mask: [C] → (weight, {weight: metric})
    """
    from ovmlr.metrics import zsl_gzsl_metrics

    values = {}
    for weight in sorted(set(weights)):
        blended = (1.0 - weight) * cosine + weight * zero_shot
        values[weight] = float(zsl_gzsl_metrics(blended, labels, unseen_mask, ks=ks)[metric])
    best = max(values, key=lambda w: (np.nan_to_num(values[w], nan=-np.inf), -w))
    return best, values
