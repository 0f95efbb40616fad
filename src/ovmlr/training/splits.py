"""Feature splits from the embedding cache: cached features and labels of one split, in label-table order."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ovmlr.training.loop import FeatureSplit
from ovmlr.training.vocabulary import Vocabulary, label_matrix

logger = logging.getLogger(__name__)


def assemble_split(
    image_embeddings: Any, image_keys: pd.DataFrame, labels: pd.DataFrame, vocabulary: Vocabulary, role: str
) -> FeatureSplit:
    """Cached features and labels of one split over the seen (``role='seen'``) or all categories.

    Images without cached features (listed in the feature report as unreadable) are left out and counted.
    """
    names = vocabulary.subset("seen").names if role == "seen" else vocabulary.names
    image_ids, y = label_matrix(labels, names)
    key_of = image_keys.drop_duplicates("image_id").set_index("image_id")["image_key"]
    present = np.isin(image_ids, key_of.index.to_numpy())
    if not present.all():
        logger.warning(
            "%d of %d images have no cached features; left out", int((~present).sum()), len(present)
        )
    image_ids, y = image_ids[present], y[present]
    global_feats, patch_feats = image_embeddings.load(key_of.loc[image_ids].tolist())
    return FeatureSplit(image_ids=image_ids, global_feats=global_feats, patch_feats=patch_feats, labels=y)
