"""Fixtures: a tiny random-weight ViT backbone (16×16 images, P = 4, D = 16), seven PNGs, the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ovmlr.backbones import BackboneSpec
from ovmlr.datasets import EmbeddingCacheDataset

TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
NUM_IMAGES = 7


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def make_spec(seed: int = 0) -> dict:
    return (
        BackboneSpec(
            model_name="ovmlr-test-fe-tiny",
            model_config=TINY_CONFIG,
            allow_random_weights=True,
            random_seed=seed,
        )
        .with_id()
        .to_dict()
    )


@pytest.fixture
def spec_factory():
    """``make_spec(seed)``: the tiny backbone with another random seed (another backbone_id)."""
    return make_spec


@pytest.fixture
def spec() -> dict:
    return make_spec()


@pytest.fixture
def spec_file(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "backbone_spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture
def cache(tmp_path: Path, spec_file: Path) -> EmbeddingCacheDataset:
    return EmbeddingCacheDataset(str(tmp_path / "cache"), str(spec_file))


@pytest.fixture
def manifest(tmp_path: Path) -> pd.DataFrame:
    """Seven grayscale PNGs under tmp_path/images, listed with paths relative to tmp_path."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    rows = []
    for i in range(NUM_IMAGES):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
        rows.append({"image_id": f"test_{i:05d}", "path": f"images/{i}.png", "split": "test"})
    return pd.DataFrame(rows)


EMPTY_HASH_INDEX = pd.DataFrame(columns=["path", "size", "mtime_ns", "image_key"])


@pytest.fixture
def hashes_of():
    """``hashes_of(manifest, params)``: ``hash_images`` with an empty hash index (every file is hashed)."""
    from ovmlr.pipelines.feature_extraction.nodes import hash_images

    return lambda manifest, params: hash_images(manifest, EMPTY_HASH_INDEX, params)[0]


@pytest.fixture
def params(tmp_path: Path) -> dict:
    return {
        "device": "cpu",
        "batch_size": 2,
        "num_workers": 0,
        "chunk_size": 3,
        "image_root": str(tmp_path),
        "hash_workers": 2,
        "templates": ["a photo of a {}.", "there is a {} in the scene."],
        "text_batch_size": 4,
        "zero_shot_top_k": [1, 3],
    }
