"""The project's configuration for each dataset environment resolves to valid datasets and builder options."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from ovmlr.data.fashion_mnist import FashionMNISTConfig
from ovmlr.data.nus_wide import NusWideConfig
from ovmlr.data.open_images import OpenImagesConfig
from ovmlr.data.sources import make_config
from ovmlr.data.tagged_art.builder import TaggedArtConfig

CONF = Path(__file__).resolve().parents[3] / "conf"


def load(env: str | None):
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="local", env=env)
    return loader["catalog"], loader["parameters"], loader["globals"]


@pytest.mark.parametrize(
    ("env", "dataset_type", "config_type", "strategy"),
    [
        (None, "ovmlr.datasets.TaggedArtDataset", TaggedArtConfig, "stratified"),
        ("fashion_mnist", "ovmlr.datasets.FashionMNISTDataset", FashionMNISTConfig, "file"),
        ("nus_wide", "ovmlr.datasets.NusWideDataset", NusWideConfig, "dataset"),
        ("open_images", "ovmlr.datasets.OpenImagesDataset", OpenImagesConfig, "dataset"),
    ],
)
def test_environment_picks_the_raw_dataset_and_builder_options(env, dataset_type, config_type, strategy):
    catalog, parameters, _ = load(env)
    assert catalog["raw_source"]["type"] == dataset_type
    make_config(config_type, parameters["data_processing"]["source"])
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
    assert catalog["mosaic_images"]["path"] == parameters["data_processing"]["source"]["mosaic_dir"]
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
