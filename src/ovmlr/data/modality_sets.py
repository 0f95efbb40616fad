"""Heterogeneous category sets across modalities (the MMHCL setting of CSCF).

Each modality (e.g. ``image``, ``text``) is trained on its own subset of the seen categories; at test time
the union of all modalities' sets (plus the unseen categories) must be recognised. The sets are either
given explicitly or drawn with a seed: a shared core of ``overlap`` × |seen| categories is in every
modality's set, the other seen categories are dealt to the modalities in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

MODALITY_COLUMNS = {"modality": "str", "category_id": "int64", "name": "str"}


def draw_modality_sets(
    seen: Sequence[str], modalities: Sequence[str], overlap: float, seed: int
) -> dict[str, list[str]]:
    """Seeded split of ``seen``: a shared core of ``round(overlap * |seen|)``, the rest dealt in turn."""
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"category_sets.heterogeneous.overlap must be in [0, 1], got {overlap}")
    order = np.random.default_rng(seed).permutation(len(seen))
    shared = int(round(overlap * len(seen)))
    sets = {modality: [seen[i] for i in order[:shared]] for modality in modalities}
    for turn, index in enumerate(order[shared:]):
        sets[modalities[turn % len(modalities)]].append(seen[index])
    return sets


def check_modality_sets(
    sets: Mapping[str, Sequence[str]], seen: Sequence[str], unseen: Sequence[str]
) -> None:
    """At least two modalities, each set non-empty and made of seen categories, together covering all seen.

    Raises:
        ValueError: Naming the modality and category.
    """
    if len(sets) < 2:
        raise ValueError(f"heterogeneous category sets need at least two modalities, got {list(sets)}")
    seen_set, unseen_set = set(seen), set(unseen)
    for modality, names in sets.items():
        if not names:
            raise ValueError(f"modality {modality!r} has an empty category set")
        for name in names:
            if name in unseen_set:
                raise ValueError(
                    f"category {name!r} of modality {modality!r} is unseen: it cannot be trained on"
                )
            if name not in seen_set:
                raise ValueError(
                    f"category {name!r} of modality {modality!r} is not in the dataset's categories"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"modality {modality!r} lists a category more than once")
    uncovered = [name for name in seen if not any(name in names for names in sets.values())]
    if uncovered:
        raise ValueError(
            f"seen categories {uncovered[:5]} are in no modality's set; "
            "the sets must cover every seen category"
        )


def modality_frame(sets: Mapping[str, Sequence[str]], category_split: pd.DataFrame) -> pd.DataFrame:
    """Long table ``modality``, ``category_id``, ``name``; categories in ``category_split`` order."""
    ids = dict(zip(category_split["name"], category_split["category_id"], strict=True))
    order = {name: i for i, name in enumerate(category_split["name"])}
    rows = [(m, int(ids[n]), n) for m, names in sets.items() for n in sorted(names, key=order.__getitem__)]
    if not rows:
        return empty_modality_frame()
    return pd.DataFrame(rows, columns=list(MODALITY_COLUMNS)).astype(MODALITY_COLUMNS)


def empty_modality_frame() -> pd.DataFrame:
    """The frame written when heterogeneous sets are disabled."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in MODALITY_COLUMNS.items()})
