"""The project's configuration for each dataset environment resolves to valid datasets and builder options."""

from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from ovmlr.data.custom.builder import CustomConfig
from ovmlr.data.fashion_mnist import FashionMNISTConfig
from ovmlr.data.nus_wide import NusWideConfig
from ovmlr.data.open_images import OpenImagesConfig
from ovmlr.data.sources import make_config
from ovmlr.data.tagged_art.builder import TaggedArtConfig
from ovmlr.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).resolve().parents[3] / "conf"


def load(env: str | None):
    loader = OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)
    return loader["catalog"], loader["parameters"], loader["globals"]


@pytest.mark.parametrize(
    ("env", "dataset_type", "config_type", "strategy"),
    [
        (None, "ovmlr.datasets.TaggedArtDataset", TaggedArtConfig, "stratified"),
        ("fashion_mnist", "ovmlr.datasets.FashionMNISTDataset", FashionMNISTConfig, "file"),
        ("nus_wide", "ovmlr.datasets.NusWideDataset", NusWideConfig, "dataset"),
        ("open_images", "ovmlr.datasets.OpenImagesDataset", OpenImagesConfig, "dataset"),
        ("custom", "ovmlr.datasets.CustomTagsDataset", CustomConfig, "dataset"),
    ],
)
def test_environment_picks_the_raw_dataset_and_builder_options(env, dataset_type, config_type, strategy):
    catalog, parameters, _ = load(env)
    assert catalog["raw_source"]["type"] == dataset_type
    name = (env or "tagged_art") if env != "local" else "tagged_art"
    make_config(config_type, parameters["data_processing"]["sources"][name])
    assert parameters["category_sets"]["strategy"] == strategy
    assert set(parameters["category_sets"]) >= {
        "unseen_names",
        "num_unseen",
        "heterogeneous",
        "plot_max_bars",
    }


@pytest.mark.parametrize("env", [None, "fashion_mnist"])
def test_mosaic_paths_come_from_the_shared_global(env):
    catalog, parameters, globals_ = load(env)
    source = parameters["data_processing"]["sources"][env or "tagged_art"]
    assert catalog["mosaic_images"]["path"] == source["mosaic_dir"]
    assert catalog["mosaic_images"]["path"] == globals_["mosaic_dir"]


def test_the_default_reads_the_tagged_art_sources_and_fashion_mnist_its_files():
    catalog, _, globals_ = load(None)
    assert catalog["raw_source"]["openclipart_dir"] == globals_["openclipart_dir"]
    assert catalog["raw_source"]["emoji_font"] == globals_["emoji_font"]
    assert globals_["registered_model_name"] == "ovmlr-c2srt-tagged-art"
    catalog, parameters, globals_ = load("fashion_mnist")
    assert catalog["raw_source"]["directory"] == globals_["fashion_mnist_dir"]
    assert parameters["category_sets"]["unseen_names"] == ["sandal", "shirt", "bag"]
    assert globals_["registered_model_name"] == "ovmlr-c2srt"
    assert globals_["mosaic_dir"] != load(None)[2]["mosaic_dir"]  # the two datasets never share a folder


def _repeats(base: dict, env: dict, path: str = "") -> list[str]:
    """Keys of an environment file whose value equals conf/base's (a copy instead of a difference)."""
    found = []
    for key, value in env.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            found += _repeats(base[key], value, f"{path}{key}.")
        elif key in base and base[key] == value:
            found.append(path + key)
    return found


@pytest.mark.parametrize("env", ["fashion_mnist", "nus_wide", "open_images", "custom"])
def test_environments_hold_only_their_differences(env):
    for path in sorted((CONF / env).glob("parameters_*.yml")):
        base_path = CONF / "base" / path.name
        base = yaml.safe_load(base_path.read_text()) if base_path.exists() else {}
        assert _repeats(base, yaml.safe_load(path.read_text())) == [], path


def test_soft_merge_keeps_base_keys_an_environment_does_not_name():
    _, parameters, _ = load("nus_wide")
    training = parameters["training"]
    assert training["model"]["config"] == "c2srt" and training["loop"]["epochs"] == 20  # the environment's
    assert training["loop"]["batch_size"] == load(None)[1]["training"]["loop"]["batch_size"]  # conf/base's


def test_the_custom_environment_reads_its_folder_and_registers_its_own_model():
    catalog, parameters, globals_ = load("custom")
    assert catalog["raw_source"]["images_dir"] == f"{globals_['custom_dir']}/images"
    assert catalog["raw_source"]["unseen_file"] == f"{globals_['custom_dir']}/unseen.txt"
    assert catalog["vocabulary_report"]["dataset"]["type"] == "pandas.JSONDataset"
    assert globals_["registered_model_name"] == "ovmlr-c2srt-custom"
    assert parameters["training"]["registry"]["dataset"] == "custom"
    assert parameters["backbone"]["pretrained"] == globals_["custom_backbone_weights"]
