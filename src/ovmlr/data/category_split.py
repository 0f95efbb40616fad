"""Partitioning a dataset's categories into seen (trained on) and unseen (zero-shot) sets.

Strategies (``category_sets.strategy``):

* ``dataset``: the dataset's own split (``categories.dataset_role``), e.g. LESA for NUS-WIDE / Open Images.
* ``file``: the unseen names listed in a parameter or in a text file (``unseen_category_names``).
* ``frequency``: the ``num_unseen`` rarest (or most frequent) categories, counted on the train split.
* ``random``: ``num_unseen`` categories drawn with a seed.
* ``stratified``: frequency-stratified random: the categories sorted by train positives are cut into
  ``num_unseen`` strata of (nearly) equal size and one category is drawn from each with a seed, so that the
  unseen set spans rare to frequent categories as the seen set does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

STRATEGIES = ("dataset", "file", "frequency", "random", "stratified")
FREQUENCY_ORDERS = ("rarest", "most_frequent")


def unseen_from_dataset(categories: pd.DataFrame) -> list[str]:
    """The categories whose ``dataset_role`` is ``unseen``; every role must be ``seen`` or ``unseen``."""
    undefined = categories[~categories["dataset_role"].isin(["seen", "unseen"])]
    if not undefined.empty:
        name, role = undefined["name"].iloc[0], undefined["dataset_role"].iloc[0]
        raise ValueError(
            f"strategy 'dataset' needs dataset_role 'seen' or 'unseen' for every category; {name!r} has "
            f"{role!r} (this dataset has no split of its own: use 'file', 'frequency' or 'random')"
        )
    return categories.loc[categories["dataset_role"] == "unseen", "name"].tolist()


def unseen_from_names(parameter_names: Sequence[str], file_names: Sequence[str]) -> list[str]:
    """The names of the ``unseen_names`` parameter or of the name-list file (exactly one must be given)."""
    if parameter_names and file_names:
        raise ValueError(
            "strategy 'file': both category_sets.unseen_names and the unseen_category_names file are set; "
            "set one of them"
        )
    names = list(parameter_names or file_names)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"strategy 'file': unseen name(s) {repeated} listed more than once")
    return names


def unseen_by_frequency(train_positives: pd.Series, num_unseen: int, order: str) -> list[str]:
    """The ``num_unseen`` categories with the fewest (``rarest``) or most positives; ties: category order."""
    if order not in FREQUENCY_ORDERS:
        raise ValueError(
            f"category_sets.frequency_order must be one of {list(FREQUENCY_ORDERS)}, got {order!r}"
        )
    check_count(num_unseen, len(train_positives))
    counts = train_positives.to_numpy()
    keys = counts if order == "rarest" else -counts
    picked = np.lexsort((np.arange(len(counts)), keys))[:num_unseen]
    return train_positives.index[np.sort(picked)].tolist()


def unseen_at_random(names: Sequence[str], num_unseen: int, seed: int) -> list[str]:
    """``num_unseen`` names drawn without replacement with ``seed`` (returned in category order)."""
    check_count(num_unseen, len(names))
    picked = np.random.default_rng(seed).choice(len(names), size=num_unseen, replace=False)
    return [names[i] for i in np.sort(picked)]


def unseen_stratified(train_positives: pd.Series, num_unseen: int, seed: int) -> list[str]:
    """One category drawn with ``seed`` from each of ``num_unseen`` frequency strata (category order).

    Categories are sorted by train positives (ties: category order) and cut into ``num_unseen`` contiguous
    strata whose sizes differ by at most one.
    """
    check_count(num_unseen, len(train_positives))
    counts = train_positives.to_numpy()
    order = np.lexsort((np.arange(len(counts)), counts))
    rng = np.random.default_rng(seed)
    picked = [int(rng.choice(stratum)) for stratum in np.array_split(order, num_unseen)]
    return train_positives.index[np.sort(picked)].tolist()


def check_count(num_unseen: int, num_categories: int) -> None:
    """``num_unseen`` must leave at least one seen and one unseen category."""
    if not 0 < num_unseen < num_categories:
        raise ValueError(
            f"category_sets.num_unseen must be between 1 and {num_categories - 1} "
            f"(the dataset has {num_categories} categories), got {num_unseen}"
        )


def check_partition(seen: Sequence[str], unseen: Sequence[str], names: Sequence[str]) -> None:
    """Seen and unseen must be non-empty, disjoint and made of the dataset's category names.

    Raises:
        ValueError: Naming the offending category or set.
    """
    known = set(names)
    for label, group in (("seen", seen), ("unseen", unseen)):
        if not group:
            raise ValueError(f"the {label} category set is empty")
        unknown = [name for name in group if name not in known]
        if unknown:
            raise ValueError(f"{label} category {unknown[0]!r} is not in the dataset's categories")
    overlap = sorted(set(seen) & set(unseen))
    if overlap:
        raise ValueError(f"categories {overlap} are both seen and unseen")


def make_category_split(categories: pd.DataFrame, unseen: Sequence[str]) -> pd.DataFrame:
    """``category_id``, ``name``, ``role`` in ``categories`` order, after checking the partition."""
    names = categories["name"].tolist()
    unseen_set = set(unseen)
    seen = [name for name in names if name not in unseen_set]
    check_partition(seen, list(unseen), names)
    return pd.DataFrame(
        {
            "category_id": categories["category_id"].to_numpy(),
            "name": names,
            "role": ["unseen" if name in unseen_set else "seen" for name in names],
        }
    )
