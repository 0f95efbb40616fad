"""Nodes of the ``category_sets`` pipeline."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from ovmlr.data.category_split import (
    STRATEGIES,
    make_category_split,
    unseen_at_random,
    unseen_by_frequency,
    unseen_from_dataset,
    unseen_from_names,
    unseen_stratified,
)
from ovmlr.data.category_summary import count_positives, plot_summary, summarise
from ovmlr.data.modality_sets import (
    check_modality_sets,
    draw_modality_sets,
    empty_modality_frame,
    modality_frame,
)

logger = logging.getLogger(__name__)


def split_categories(  # noqa: PLR0913, PLR0917 - a Kedro node: inputs positional, one per dataset
    categories: pd.DataFrame,
    labels: pd.DataFrame,
    image_manifest: pd.DataFrame,
    unseen_category_names: list[str],
    strategy: str,
    unseen_names: list[str],
    num_unseen: int,
    frequency_order: str,
    seed: int,
) -> pd.DataFrame:
    """Partition the categories into seen and unseen.

    Args:
        categories: ``category_id``, ``name``, ``dataset_role``.
        labels: ``image_id`` + one column per category (for ``frequency``).
        image_manifest: ``image_id``, ``split`` (``frequency`` counts train images only).
        unseen_category_names: Names from the optional text file (``strategy: file``).
        strategy: ``dataset``, ``file``, ``frequency``, ``random`` or ``stratified``.
        unseen_names: Names from the parameters (``strategy: file``).
        num_unseen: How many unseen categories (``frequency``, ``random``, ``stratified``).
        frequency_order: ``rarest`` or ``most_frequent`` (``frequency``).
        seed: Seed of ``random`` and ``stratified``.

    Returns:
        ``category_id``, ``name``, ``role`` (``seen``/``unseen``) in ``categories`` order.
    """
    names = categories["name"].tolist()
    if strategy == "dataset":
        unseen = unseen_from_dataset(categories)
    elif strategy == "file":
        unseen = unseen_from_names(unseen_names, unseen_category_names)
    elif strategy == "frequency":
        train_positives = count_positives(labels, image_manifest, names)["train"]
        unseen = unseen_by_frequency(train_positives, num_unseen, frequency_order)
    elif strategy == "random":
        unseen = unseen_at_random(names, num_unseen, seed)
    elif strategy == "stratified":
        train_positives = count_positives(labels, image_manifest, names)["train"]
        unseen = unseen_stratified(train_positives, num_unseen, seed)
    else:
        raise ValueError(f"category_sets.strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    split = make_category_split(categories, unseen)
    logger.info(
        "Category split (%s): %d seen, %d unseen: %s",
        strategy,
        len(names) - len(unseen),
        len(unseen),
        ", ".join(unseen[:20]) + (" ..." if len(unseen) > 20 else ""),
    )
    return split


def build_modality_category_sets(  # noqa: PLR0917 - Kedro passes node inputs positionally
    category_split: pd.DataFrame,
    enabled: bool,
    modalities: list[str],
    explicit_sets: dict[str, list[str]],
    overlap: float,
    seed: int,
) -> pd.DataFrame:
    """Per-modality training category sets (CSCF's MMHCL setting), or an empty table when disabled.

    Args:
        category_split: ``name``, ``role`` per category.
        enabled: Build heterogeneous sets at all.
        modalities: Modality names, e.g. ``["image", "text"]``.
        explicit_sets: Modality -> seen category names; empty to draw the sets with ``overlap`` and ``seed``.
        overlap: Share of the seen categories in every modality's set (drawn sets).
        seed: Seed of the drawn sets.

    Returns:
        ``modality``, ``category_id``, ``name``.
    """
    if not enabled:
        return empty_modality_frame()
    seen = category_split.loc[category_split["role"] == "seen", "name"].tolist()
    unseen = category_split.loc[category_split["role"] == "unseen", "name"].tolist()
    if explicit_sets:
        if modalities and sorted(explicit_sets) != sorted(modalities):
            raise ValueError(
                f"category_sets.heterogeneous: explicit sets are for {sorted(explicit_sets)} but modalities "
                f"are {sorted(modalities)}"
            )
        sets = {modality: list(names) for modality, names in explicit_sets.items()}
    else:
        sets = draw_modality_sets(seen, modalities, overlap, seed)
    check_modality_sets(sets, seen, unseen)
    for modality, names in sets.items():
        logger.info("Modality %r trains on %d of %d seen categories", modality, len(names), len(seen))
    return modality_frame(sets, category_split)


def split_labels(
    labels: pd.DataFrame, image_manifest: pd.DataFrame, category_split: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Label tables per split: train with seen columns only; val and test with seen then unseen columns.

    Returns:
        ``train_labels``, ``val_labels``, ``test_labels`` (``image_id`` + category columns).
    """
    names = category_split["name"].tolist()
    if list(labels.columns[1:]) != names:
        raise ValueError("labels: category columns differ from category_split (names or order)")
    seen = category_split.loc[category_split["role"] == "seen", "name"].tolist()
    unseen = category_split.loc[category_split["role"] == "unseen", "name"].tolist()
    split_of = labels["image_id"].map(image_manifest.set_index("image_id")["split"])
    if split_of.isna().any():
        raise ValueError(
            f"labels: image {labels['image_id'][split_of.isna()].iloc[0]!r} is not in image_manifest"
        )
    tables = []
    for split, columns in (("train", seen), ("val", seen + unseen), ("test", seen + unseen)):
        tables.append(
            labels.loc[(split_of == split).to_numpy(), ["image_id", *columns]].reset_index(drop=True)
        )
    return tables[0], tables[1], tables[2]


def summarise_categories(
    labels: pd.DataFrame, image_manifest: pd.DataFrame, category_split: pd.DataFrame
) -> pd.DataFrame:
    """Positives per category per split; flags (and logs) unseen categories without a positive test image.

    Returns:
        ``category_id``, ``name``, ``role``, ``train_positives``, ``val_positives``, ``test_positives``,
        ``warning``.
    """
    counts = count_positives(labels, image_manifest, category_split["name"].tolist())
    return summarise(category_split, counts)


def plot_category_summary(category_summary: pd.DataFrame, max_bars: int) -> Figure:
    """Bar chart of ``category_summary`` (a rank plot beyond ``max_bars`` categories)."""
    return plot_summary(category_summary, max_bars)
