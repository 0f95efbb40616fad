"""Per-modality feature tables and category sets of the MMHCL setting (CSCF), checked and aligned.

A *modality table* is what a user brings for each modality: one row per sample, ``image_id`` (the sample id
of the label tables; the name is the project's) and ``embedding`` (a float vector, one length per table).
Any number of modalities; each may miss some samples. At training time every labelled sample must have every
modality (a mismatch is an error naming the modality and the ids); at test time a missing modality is
allowed: its ``present`` flag is False and the fusion rule never picks it
(see :mod:`ovmlr.multimodal.fusion`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ovmlr.core.vocabulary import label_matrix

ID_COLUMN = "image_id"
FEATURE_COLUMN = "embedding"


@dataclass(frozen=True)
class ModalityBatch:
    """Features of several modalities for the same samples, in one order.

    Attributes:
        sample_ids: [N] sample ids.
        features: modality → float32 [N, D_m] (zeros where the modality is missing).
        present: modality → bool [N], False where the sample lacks the modality.
    """

    sample_ids: np.ndarray
    features: dict[str, np.ndarray]
    present: dict[str, np.ndarray]

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names, in the order given."""
        return tuple(self.features)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def subset(self, rows: np.ndarray) -> ModalityBatch:
        """The samples at ``rows`` (indices or a boolean mask)."""
        return ModalityBatch(
            self.sample_ids[rows],
            {m: f[rows] for m, f in self.features.items()},
            {m: p[rows] for m, p in self.present.items()},
        )

    def replace(self, modality: str, features: np.ndarray | None = None, present: np.ndarray | None = None):
        """A copy with one modality's features and/or presence replaced (robustness tests)."""
        feats, flags = dict(self.features), dict(self.present)
        if features is not None:
            feats[modality] = features
        if present is not None:
            flags[modality] = present
            feats[modality] = np.where(present[:, None], feats[modality], 0.0).astype(np.float32)
        return ModalityBatch(self.sample_ids, feats, flags)


def modality_table(sample_ids: Sequence[str], features: np.ndarray) -> pd.DataFrame:
    """The parquet-ready table of one modality: ``image_id``, ``embedding`` (float32 arrays)."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(sample_ids):
        raise ValueError(f"features must be [N, D] with N={len(sample_ids)} ids, got {features.shape}")
    return pd.DataFrame({ID_COLUMN: list(map(str, sample_ids)), FEATURE_COLUMN: list(features)})


def _table_matrix(modality: str, table: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """Ids and stacked features of one table; a ValueError names the modality and the fault."""
    missing = [c for c in (ID_COLUMN, FEATURE_COLUMN) if c not in table.columns]
    if missing:
        raise ValueError(
            f"modality table {modality!r} lacks columns {missing} (has {list(table.columns)}); "
            f"expected '{ID_COLUMN}' and '{FEATURE_COLUMN}'"
        )
    ids = pd.Index(table[ID_COLUMN].astype(str))
    duplicated = ids[ids.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"modality table {modality!r} lists sample ids more than once: {duplicated[:5]}")
    if table.empty:
        raise ValueError(f"modality table {modality!r} is empty")
    lengths = table[FEATURE_COLUMN].map(len)
    if lengths.nunique() != 1:
        raise ValueError(
            f"modality table {modality!r} has feature vectors of lengths {sorted(lengths.unique())[:5]}; "
            "all rows must have one length"
        )
    matrix = np.stack(table[FEATURE_COLUMN].to_numpy()).astype(np.float32)
    if not np.isfinite(matrix).all():
        bad = ids[~np.isfinite(matrix).all(axis=1)].tolist()
        raise ValueError(f"modality table {modality!r} has non-finite features for samples {bad[:5]}")
    return ids, matrix


def align_modalities(
    tables: Mapping[str, pd.DataFrame],
    sample_ids: Sequence[str],
    modalities: Sequence[str],
    require_all: bool,
    where: str,
) -> ModalityBatch:
    """The listed modalities' features for ``sample_ids``, in that order.

    Args:
        tables: modality → table (``image_id``, ``embedding``).
        sample_ids: The samples wanted (a split's label-table order).
        modalities: Which modalities, in this order (at least two).
        require_all: True (training): every sample must have every modality. False (test): missing ones are
            flagged absent.
        where: The split's name, for messages.

    Raises:
        ValueError: A modality without a table, or (``require_all``) samples missing from a table, naming the
            modality, how many and which.
    """
    if len(modalities) < 2:
        raise ValueError(f"multimodal fusion needs at least two modalities, got {list(modalities)}")
    absent = [m for m in modalities if m not in tables]
    if absent:
        raise ValueError(f"no feature table for modalities {absent}; tables: {sorted(tables)}")
    wanted = pd.Index(list(map(str, sample_ids)))
    features, present = {}, {}
    for modality in modalities:
        ids, matrix = _table_matrix(modality, tables[modality])
        position = ids.get_indexer(wanted)
        found = position >= 0
        if require_all and not found.all():
            lost = wanted[~found].tolist()
            raise ValueError(
                f"modality {modality!r} has no features for {len(lost)} of {len(wanted)} {where} samples "
                f"(e.g. {lost[:5]}): the sample ids of its table do not match the label table's"
            )
        out = np.zeros((len(wanted), matrix.shape[1]), dtype=np.float32)
        out[found] = matrix[position[found]]
        features[modality], present[modality] = out, found
    return ModalityBatch(wanted.to_numpy(dtype=object), features, present)


@dataclass(frozen=True)
class CategorySets:
    """Which categories each modality trains on, over one vocabulary.

    Attributes:
        names: The vocabulary (all categories, seen and unseen), length C.
        unseen: bool [C], True for categories no modality trains on (zero-shot).
        member: modality → bool [C], True for the categories of that modality's set C_m.
    """

    names: tuple[str, ...]
    unseen: np.ndarray
    member: dict[str, np.ndarray]

    def origin(self) -> np.ndarray:
        """Each category's origin: ``only:<m>``, ``shared`` (two or more sets) or ``unseen``, [C] object."""
        count = sum(m.astype(int) for m in self.member.values())
        out = np.full(len(self.names), "unseen", dtype=object)
        out[count >= 2] = "shared"
        for modality, member in self.member.items():
            out[member & (count == 1)] = f"only:{modality}"
        return out


def category_sets_from_frame(
    frame: pd.DataFrame, names: Sequence[str], roles: Sequence[str], modalities: Sequence[str]
) -> CategorySets:
    """Category sets from the ``modality_category_sets`` table (``modality``, ``name``), checked.

    Raises:
        ValueError: The table is empty (heterogeneous sets disabled), a modality has no set or an empty one,
            a name is not in the vocabulary or is unseen, or a set names a modality without features.
    """
    if frame.empty:
        raise ValueError(
            "modality_category_sets is empty: enable category_sets.heterogeneous (conf/base/"
            "parameters_category_sets.yml) with the modalities of multimodal.modalities"
        )
    vocabulary = {name: i for i, name in enumerate(names)}
    unseen = np.array([role == "unseen" for role in roles], dtype=bool)
    extra = sorted(set(frame["modality"]) - set(modalities))
    if extra:
        raise ValueError(
            f"modality_category_sets names modalities {extra} that have no features {list(modalities)}"
        )
    member = {}
    for modality in modalities:
        listed = frame.loc[frame["modality"] == modality, "name"].astype(str).tolist()
        if not listed:
            raise ValueError(f"modality {modality!r} has an empty category set in modality_category_sets")
        outside = [n for n in listed if n not in vocabulary]
        if outside:
            raise ValueError(
                f"category set of modality {modality!r} is not a subset of the vocabulary: {outside[:5]} "
                "are not categories of this dataset"
            )
        flags = np.zeros(len(names), dtype=bool)
        flags[[vocabulary[n] for n in listed]] = True
        if (flags & unseen).any():
            bad = [names[i] for i in np.flatnonzero(flags & unseen)][:5]
            raise ValueError(f"category set of modality {modality!r} holds unseen categories {bad}")
        member[modality] = flags
    return CategorySets(tuple(names), unseen, member)


def vocabulary_labels(
    table: pd.DataFrame, names: Sequence[str], unseen: np.ndarray, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ids and int8 labels [N, C] over the vocabulary from a wide label table.

    The project's training-side tables (train, val) hold only the seen categories: an unseen category
    absent from them is unknown (-1). A test table must hold every category.

    Raises:
        ValueError: A test table without an unseen column, or any table without a seen column.
    """
    absent = [n for n, u in zip(names, unseen, strict=True) if u and n not in table.columns]
    if absent and split == "test":
        raise ValueError(f"test_labels lacks unseen category columns {absent[:5]}")
    return label_matrix(table.assign(**dict.fromkeys(absent, -1)), tuple(names))


def modality_labels(labels: np.ndarray, member: np.ndarray) -> np.ndarray:
    """The labels modality m may train on: its own categories kept, every other one unknown (-1).

    Shapes:
        labels: [N, C] int8, member: [C] bool → [N, C] int8
    """
    return np.where(member[None, :], labels, -1).astype(np.int8)


@dataclass(frozen=True)
class MultimodalSplits:
    """Everything the multimodal training and evaluation read, in one object.

    Attributes:
        train, val, test: The splits' features (training and validation samples have every modality).
        train_labels, val_labels, test_labels: int8 [N, C] labels over the vocabulary.
        text: float32 [C, D] L2-normalised category text features (the prompt ensemble).
        category_ids: int64 [C] dataset ids of the vocabulary.
        sets: The modalities' category sets over the vocabulary.
    """

    train: ModalityBatch
    val: ModalityBatch
    test: ModalityBatch
    train_labels: np.ndarray
    val_labels: np.ndarray
    test_labels: np.ndarray
    text: np.ndarray
    category_ids: np.ndarray
    sets: CategorySets
