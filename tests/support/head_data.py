"""Small random head data shared by the selection and protocol tests: 6 seen + 2 unseen categories."""

from __future__ import annotations

import numpy as np

from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary

D, P = 8, 3  # feature width, patches per image
NAMES = ("s0", "s1", "s2", "s3", "s4", "s5", "u0", "u1")
ROLES = ("seen",) * 6 + ("unseen",) * 2
UNSEEN = {"u0", "u1"}


def random_vocabulary(seed: int = 0) -> Vocabulary:
    """Unit-norm random text features, each category's neighbours the next two seen ones."""
    text = np.random.default_rng(seed).normal(size=(len(NAMES), D)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    neighbours = np.array([[(i + 1) % 6, (i + 2) % 6] for i in range(len(NAMES))], dtype=np.int64)
    return Vocabulary(np.arange(len(NAMES)), NAMES, ROLES, text, neighbours)


def random_split(n: int, columns: int, seed: int) -> FeatureSplit:
    """``n`` images with random global and patch features and labels (positive rate 0.4) over ``columns``."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, columns)) < 0.4).astype(np.int8)
    g = rng.normal(size=(n, D)).astype(np.float32)
    p = rng.normal(size=(n, P, D)).astype(np.float32)
    return FeatureSplit(np.array([f"i{i}" for i in range(n)]), g, p, labels)
