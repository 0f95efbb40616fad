"""Fixtures: a tiny seeded evaluation world. 12 test images, 6 categories (2 unseen), 4×4 patches of
16-d features, a randomly initialised C²SRT as the registered model's object (saved and loaded)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ovmlr.backbones import BackboneSpec
from ovmlr.core.model_factory import build_model
from ovmlr.core.vocabulary import ENSEMBLE, Vocabulary
from ovmlr.models import config_to_dict, load_model_config
from ovmlr.trained import TrainedC2SRT, load_trained, save_trained

N, P, D = 12, 16, 16
NAMES = ("cat", "dog", "car", "tree", "lion", "truck")
ROLES = ("seen", "seen", "seen", "seen", "unseen", "unseen")
NEIGHBOURS = np.array([[1, 2], [0, 3], [3, 0], [2, 1], [0, 1], [2, 3]], dtype=np.int64)


class FakeEmbeddings:
    """The ``image_embeddings`` contract: ``load(keys) -> (global [n, D], patches [n, P, D])``,
    ``load_global(keys) -> global [n, D]``."""

    def __init__(self, keys: list[str], global_feats: np.ndarray, patch_feats: np.ndarray) -> None:
        self._index = {k: i for i, k in enumerate(keys)}
        self._global, self._patches = global_feats, patch_feats

    def load(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [self._index[k] for k in keys]
        return self._global[rows], self._patches[rows]

    def load_global(self, keys: list[str]) -> np.ndarray:
        return self.load(keys)[0]


@dataclass
class World:
    vocabulary: Vocabulary
    model_config: dict[str, Any]
    champion: TrainedC2SRT  # saved and loaded
    inputs: dict[str, Any]  # catalog inputs of the evaluation pipeline
    global_feats: np.ndarray
    patch_feats: np.ndarray
    labels: np.ndarray


def _labels(rng: np.random.Generator) -> np.ndarray:
    labels = (rng.random((N, len(NAMES))) < 0.4).astype(np.int8)
    labels[np.arange(len(NAMES)), np.arange(len(NAMES))] = 1  # every category has a positive
    labels[7, 0] = labels[9, 3] = labels[10, 4] = -1  # some unknown labels
    return labels


def _write_images(folder: Path, image_ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for image_id in image_ids:
        path = folder / f"{image_id}.png"
        Image.fromarray(rng.integers(0, 255, size=(40, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return pd.DataFrame({"image_id": image_ids, "path": paths, "split": "test"})


def _tables(vocabulary: Vocabulary, labels: np.ndarray, image_ids: list[str]) -> dict[str, pd.DataFrame]:
    text_rows = [
        {"category_id": i, "name": n, "template": t, "embedding": (vocabulary.text[i] * s).astype(np.float32)}
        for i, n in enumerate(NAMES)
        for t, s in ((ENSEMBLE, 1.0), ("a photo of a {}.", -1.0))
    ]
    edges = [
        {
            "source_id": int(j),
            "source_name": NAMES[j],
            "target_id": i,
            "target_name": NAMES[i],
            "score": 0.9 - 0.2 * r,
            "relation_types": ["llm"],
            "rank": r,
        }
        for i in range(len(NAMES))
        for r, j in enumerate(NEIGHBOURS[i])
    ]
    label_table = pd.DataFrame({"image_id": image_ids, **{n: labels[:, i] for i, n in enumerate(NAMES)}})
    return {
        "test_labels": label_table,
        "train_labels": label_table,  # the PICO baseline's fit reads its seen columns
        "image_keys": pd.DataFrame({"image_id": image_ids, "image_key": [f"key-{i}" for i in image_ids]}),
        "text_features": pd.DataFrame(text_rows),
        "relation_edges": pd.DataFrame(edges),
    }


def small_model_config(**overrides: Any) -> dict[str, Any]:
    base = {"embed_dim": D, "ist": {"heads": 2, "hidden_dim": 8, "dropout": 0.0}, "isr.temperature": 30.0}
    return config_to_dict(load_model_config("c2srt_small", {**base, **overrides}))


TINY_CLIP = {
    "embed_dim": D,
    "vision_cfg": {"image_size": 32, "patch_size": 16, "width": 32, "layers": 2, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_SPEC = BackboneSpec(model_name="ovmlr-test-tiny-clip", model_config=TINY_CLIP, allow_random_weights=True)


def trained_model(
    config: dict[str, Any], vocabulary: Vocabulary, seed: int = 3, **overrides: Any
) -> TrainedC2SRT:
    """A randomly initialised head on the tiny backbone, as a trained-model object."""
    return TrainedC2SRT(
        model_config=config,
        head_state=build_model(config, seed=seed).state_dict(),
        vocabulary=vocabulary,
        backbone_spec=TINY_SPEC,
        templates=("a photo of a {}.",),
        info={"dataset": "test", "epoch": 1, "fingerprint": "f", "selection_metric": "gzsl/mAP"},
        **overrides,
    )


def save_and_load(model: TrainedC2SRT, folder: Path) -> TrainedC2SRT:
    """The model's safe save/load round trip (what the registry stores and loads)."""
    return load_trained(save_trained(model, folder))


@pytest.fixture(name="small_config")
def small_config_fixture() -> Callable[..., dict[str, Any]]:
    """``small_config(**overrides)``: the test model config."""
    return small_model_config


@pytest.fixture(name="save_model")
def save_model_fixture() -> Callable[[TrainedC2SRT, Path], TrainedC2SRT]:
    """``save_model(model, folder)``: the saved and reloaded model."""
    return save_and_load


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("evaluation_world"))


def build_world(root: Path) -> World:
    """The seeded world, its files under ``root``."""
    rng = np.random.default_rng(0)
    text = rng.standard_normal((len(NAMES), D)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    vocabulary = Vocabulary(np.arange(len(NAMES)), NAMES, ROLES, text, NEIGHBOURS)
    global_feats = rng.standard_normal((N, D)).astype(np.float32)
    patch_feats = rng.standard_normal((N, P, D)).astype(np.float32)
    labels = _labels(rng)
    image_ids = [f"img{i:02d}" for i in range(N)]
    config = small_model_config()
    champion = save_and_load(trained_model(config, vocabulary), root / "m")
    inputs = {
        "c2srt_champion": champion,
        "image_embeddings": FakeEmbeddings([f"key-{i}" for i in image_ids], global_feats, patch_feats),
        "image_manifest": _write_images(root / "images", image_ids, rng),
        "backbone_spec": {},  # only a fine-tuned model's student is rebuilt from it
        **_tables(vocabulary, labels, image_ids),
    }
    return World(vocabulary, config, champion, inputs, global_feats, patch_feats, labels)


@pytest.fixture(name="make_model")
def make_model_fixture() -> Callable[..., TrainedC2SRT]:
    """``make_model(config, vocabulary, seed=3, **fields)``: a trained-model object on the tiny backbone."""
    return trained_model


@pytest.fixture(name="tiny_spec")
def tiny_spec_fixture() -> BackboneSpec:
    """The tiny backbone of :func:`trained_model` (32×32 images, 16×16 patches)."""
    return TINY_SPEC
