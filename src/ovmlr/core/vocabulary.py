"""The category vocabulary a model scores: names, roles, text features [C, D] and neighbours [C, K].

Training scores the seen categories only; evaluation scores seen + unseen. Neighbour indices always point
into the same vocabulary, so :meth:`Vocabulary.subset` re-indexes them. The prompt names of
``training.prompt`` live here too: ``ENSEMBLE`` (the Eq. 24 ensemble of every template) and ``COOP_PROMPT``
(learned context vectors, the Table 5 ablation row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

ENSEMBLE = "__ensemble__"  # training.prompt / text_features template: the Eq. 24 prompt ensemble
COOP_PROMPT = "__coop__"  # training.prompt of the Table 5 "Prompt tuning" ablation row (CoOp)


@dataclass(frozen=True)
class Vocabulary:
    """Categories with their text features and IST neighbours.

    Attributes:
        category_ids: Dataset category ids, shape [C].
        names: Category names, length C.
        roles: ``seen`` / ``unseen`` per category, length C.
        text: L2-normalised text features, float32 [C, D].
        neighbours: Indices into this vocabulary of each category's K related seen categories, int64 [C, K].
    """

    category_ids: np.ndarray
    names: tuple[str, ...]
    roles: tuple[str, ...]
    text: np.ndarray
    neighbours: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def unseen_mask(self) -> np.ndarray:
        """Boolean [C]: True for unseen categories."""
        return np.array([r == "unseen" for r in self.roles], dtype=bool)

    def subset(self, role: str) -> Vocabulary:
        """The categories of one role, neighbours re-indexed into the subset.

        Raises:
            ValueError: If a kept category has a neighbour outside the subset.
        """
        keep = np.flatnonzero([r == role for r in self.roles])
        position = np.full(len(self), -1, dtype=np.int64)
        position[keep] = np.arange(len(keep))
        neighbours = position[self.neighbours[keep]]
        if (neighbours < 0).any():
            row = int(np.argwhere(neighbours < 0)[0, 0])
            raise ValueError(
                f"Category '{self.names[keep[row]]}' has a neighbour that is not {role}: "
                "IST neighbours must be seen categories"
            )
        return Vocabulary(
            category_ids=self.category_ids[keep],
            names=tuple(self.names[i] for i in keep),
            roles=tuple(self.roles[i] for i in keep),
            text=self.text[keep],
            neighbours=neighbours,
        )


def text_feature_matrix(text_features: pd.DataFrame, category_ids: np.ndarray, template: str) -> np.ndarray:
    """Rows of one template (or the ensemble) of the ``text_features`` table as float32 [C, D].

    Raises:
        ValueError: If the template or a category is missing from the table.
    """
    rows = text_features[text_features["template"] == template]
    if rows.empty:
        known = sorted(text_features["template"].unique())
        raise ValueError(f"text_features has no template {template!r}; available: {known}")
    by_id = rows.set_index("category_id")["embedding"]
    missing = sorted(set(category_ids.tolist()) - set(by_id.index.tolist()))
    if missing:
        raise ValueError(f"text_features lacks category ids {missing[:10]} for template {template!r}")
    return np.stack([np.asarray(by_id[i], dtype=np.float32) for i in category_ids])


def build_vocabulary_from_tables(
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    category_neighbours: pd.DataFrame,
    template: str = ENSEMBLE,
) -> Vocabulary:
    """Assemble the full (seen + unseen) vocabulary in ``category_split`` order.

    Raises:
        ValueError: If a category has no neighbour row, neighbour lists differ in length, or a neighbour id
            is not a category of the split.
    """
    ids = category_split["category_id"].to_numpy(dtype=np.int64)
    position = {int(c): i for i, c in enumerate(ids)}
    lists = category_neighbours.set_index("category_id")["neighbour_ids"]
    missing = sorted(set(position) - set(int(i) for i in lists.index))
    if missing:
        raise ValueError(f"category_neighbours has no row for category ids {missing[:10]}")
    rows = [[int(j) for j in lists[c]] for c in ids]
    if len({len(r) for r in rows}) != 1:
        raise ValueError("category_neighbours: every category needs the same number K of neighbours")
    unknown = sorted({j for r in rows for j in r} - set(position))
    if unknown:
        raise ValueError(f"category_neighbours names unknown category ids {unknown[:10]}")
    return Vocabulary(
        category_ids=ids,
        names=tuple(category_split["name"].astype(str)),
        roles=tuple(category_split["role"].astype(str)),
        text=text_feature_matrix(text_features, ids, template),
        neighbours=np.array([[position[j] for j in r] for r in rows], dtype=np.int64),
    )


def label_matrix(labels: pd.DataFrame, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Image ids and the int8 label matrix [N, C] of ``names`` from a wide label table.

    Raises:
        ValueError: If a category column is missing.
    """
    missing = [n for n in names if n not in labels.columns]
    if missing:
        raise ValueError(f"label table lacks category columns {missing[:10]}")
    return labels["image_id"].astype(str).to_numpy(), labels[list(names)].to_numpy(dtype=np.int8)


def prompt_templates(prompt: str, templates: Sequence[str]) -> tuple[str, ...]:
    """The templates behind a vocabulary's text features: all for the ensemble, else the one prompt."""
    return tuple(templates) if prompt == ENSEMBLE else (prompt,)


def text_prompt(prompt: str) -> str:
    """The fixed prompt that gives text features to names a model was not trained on: a CoOp row's
    learned context belongs to its own vocabulary, so new names get the ensemble."""
    return ENSEMBLE if prompt == COOP_PROMPT else prompt
