"""A tiny multimodal world: 8 categories (a: 0-3, b: 2-5, unseen: 6, 7), modality a informative and in the
text space, modality b weaker and in its own 12-d space."""

from __future__ import annotations

import numpy as np
import pytest

from ovmlr.multimodal.data import CategorySets, ModalityBatch, MultimodalSplits

NAMES = tuple(f"c{i}" for i in range(8))
D = 16


def _split(rng: np.random.Generator, n: int, text: np.ndarray, mix: np.ndarray, prefix: str):
    labels = (rng.random((n, len(NAMES))) < 0.25).astype(np.int8)
    labels[labels.sum(1) == 0, rng.integers(0, len(NAMES))] = 1
    a = labels @ text + 0.3 * rng.normal(size=(n, D))
    b = labels @ text @ mix + 1.5 * rng.normal(size=(n, mix.shape[1]))
    ids = np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    batch = ModalityBatch(
        ids,
        {"a": a.astype(np.float32), "b": b.astype(np.float32)},
        {"a": np.ones(n, bool), "b": np.ones(n, bool)},
    )
    return batch, labels


@pytest.fixture(scope="session")
def world() -> MultimodalSplits:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(len(NAMES), D))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    mix = rng.normal(size=(D, 12))
    unseen = np.array([False] * 6 + [True] * 2)
    member = {"a": np.array([1, 1, 1, 1, 0, 0, 0, 0], bool), "b": np.array([0, 0, 1, 1, 1, 1, 0, 0], bool)}
    train, y_train = _split(rng, 240, text, mix, "tr")
    val, y_val = _split(rng, 80, text, mix, "va")
    test, y_test = _split(rng, 80, text, mix, "te")
    y_train[:, unseen] = -1
    y_val[:, unseen] = -1
    return MultimodalSplits(
        train,
        val,
        test,
        y_train,
        y_val,
        y_test,
        text.astype(np.float32),
        np.arange(8),
        CategorySets(NAMES, unseen, member),
    )


@pytest.fixture
def fit_params() -> dict:
    """Small ``multimodal.training`` / ``fusion`` / PICO parameters for the tiny world."""
    return {
        "training": {"epochs": 3, "batch_size": 64, "hidden": 32, "seed": 0},
        "fusion": {
            "neighbours": 3,
            "similarity_temperature": 0.1,
            "gamma_grid": {"own": [0.0, 0.5], "other": [0.0, 1.0]},
            "temperature_grid": {"min": 1.0, "max": 50.0, "steps": 8},
        },
        "pico": {"iterations": 1, "n_style_prototypes": 2, "seed": 0},
    }
