"""Fixtures: a synthetic 3-class pretraining pool (28×28 items) and small demo-training parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

CLASS_NAMES = ("t-shirt", "trouser", "bag")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _item(class_id: int, rng: np.random.Generator) -> np.ndarray:
    """A noisy 28×28 item whose shape depends on the class (bar, column, square)."""
    item = rng.integers(0, 40, (28, 28)).astype(np.uint8)
    if class_id == 0:
        item[12:16, 4:24] = 220
    elif class_id == 1:
        item[4:24, 12:16] = 220
    else:
        item[8:20, 8:20] = 220
    return item


@pytest.fixture
def pretrain_pool() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    classes = np.tile(np.arange(3), 24)  # 72 items: 60 train, 12 held out
    return pd.DataFrame(
        {
            "item_id": [f"train-{i:05d}" for i in range(len(classes))],
            "class_id": classes,
            "class_name": [CLASS_NAMES[c] for c in classes],
            "split": np.where(np.arange(len(classes)) < 60, "train", "heldout"),
            "pixels": [_item(c, rng).tobytes() for c in classes],
            "height": 28,
            "width": 28,
        }
    )


@pytest.fixture
def params(tmp_path) -> dict:
    return {
        "kind": "demo",
        "model_name": "ovmlr-demo-vit-p8-56",
        "pretrained": None,
        "model_config": None,
        "hf_text_tower": None,
        "preprocess": {},
        "allow_random_weights": False,
        "random_seed": 0,
        "device": "cpu",
        "demo": {
            "checkpoint_path": str(tmp_path / "demo" / "open_clip_model.pt"),
            "training": {
                "templates": ["a photo of a {}.", "a {}."],
                "epochs": 1,
                "batch_size": 20,
                "learning_rate": 1e-3,
                "weight_decay": 0.05,
                "warmup_steps": 1,
                "max_items": None,
                "canvas": {"grid": 2},
                "seed": 0,
                "text_batch_size": 8,
            },
        },
        "release": {"seeds": [0, 1]},
        "zero_shot": {"templates": ["a photo of a {}."], "images": 12, "seed": 0, "batch_size": 8},
    }
