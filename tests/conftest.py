"""Project-wide test fixtures."""

from pathlib import Path

import pytest
from mlflow_isolation import mlflow_store


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path):
    """Every test gets its own sqlite tracking store (see ``mlflow_store``)."""
    with mlflow_store(f"sqlite:///{tmp_path}/isolated-mlflow.db"):
        yield


# A tiny trained model shared by the tests of the trained-model object, the registry and the predict stage.
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ovmlr.backbones import BackboneSpec  # noqa: E402
from ovmlr.core.model_factory import build_model  # noqa: E402
from ovmlr.core.vocabulary import Vocabulary  # noqa: E402
from ovmlr.models import config_to_dict, load_model_config  # noqa: E402
from ovmlr.trained import TrainedC2SRT  # noqa: E402

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
NAMES = ("cat", "dog", "car", "tree", "lion", "truck")
ROLES = ("seen", "seen", "seen", "seen", "unseen", "unseen")
NEIGHBOURS = np.array([[1, 2], [0, 3], [3, 0], [2, 1], [0, 1], [2, 3]], dtype=np.int64)
TEMPLATES = ("a photo of a {}.", "a drawing of a {}.")


def make_trained(seed: int = 3, **overrides) -> TrainedC2SRT:
    """A tiny C²SRT with ISR and IST on, its vocabulary's text features from its own text tower."""
    spec = BackboneSpec(
        model_name="ovmlr-test-trained-tiny", model_config=TINY_CLIP, allow_random_weights=True, random_seed=1
    ).with_id()
    base = {"embed_dim": 16, "ist": {"heads": 2, "hidden_dim": 8, "dropout": 0.0}, "isr.temperature": 30.0}
    config = config_to_dict(load_model_config("c2srt_small", base))
    placeholder = Vocabulary(np.arange(6), NAMES, ROLES, np.zeros((6, 16), np.float32), NEIGHBOURS)
    trained = TrainedC2SRT(
        model_config=config,
        head_state=build_model(config, seed=seed).state_dict(),
        vocabulary=placeholder,
        backbone_spec=spec,
        templates=TEMPLATES,
        info={"dataset": "test", "epoch": 1, "selection_metric": "gzsl/mAP", "selection_value": 0.5},
        **overrides,
    )
    text = trained.text_features(NAMES)
    trained.vocabulary = Vocabulary(np.arange(6), NAMES, ROLES, text, NEIGHBOURS)
    return trained


@pytest.fixture(name="trained", scope="session")
def trained_fixture() -> TrainedC2SRT:
    """A tiny trained model (random weights) on a tiny open_clip ViT: P = 16, D = 16, 4 seen + 2 unseen."""
    return make_trained()


@pytest.fixture(name="make_trained")
def make_trained_fixture():
    """``make_trained(seed=3, **fields)``: a fresh tiny trained model."""
    return make_trained


def write_images(folder: Path) -> list[Path]:
    """Five images: RGB JPEG, RGBA PNG, greyscale PNG, WebP (odd size), palette GIF."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    paths = [
        folder / "a.jpg",
        folder / "b.png",
        folder / "c.png",
        folder / "sub" / "d.webp",
        folder / "e.gif",
    ]
    paths[3].parent.mkdir(exist_ok=True)
    Image.fromarray(rgb).save(paths[0])
    rgba = np.concatenate([rgb, rng.integers(0, 255, (40, 56, 1), dtype=np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(paths[1])
    Image.fromarray(rgb[..., 0]).save(paths[2])
    Image.fromarray(rng.integers(0, 255, (23, 71, 3), dtype=np.uint8)).save(paths[3])
    Image.fromarray(rgb).convert("P").save(paths[4])
    return paths


@pytest.fixture(name="image_files")
def image_files_fixture(tmp_path: Path) -> list[Path]:
    return write_images(tmp_path / "images")
