"""The project's configuration for each dataset environment resolves to valid datasets and builder options."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from ovmlr.data.fashion_mnist import FashionMNISTConfig
from ovmlr.data.nus_wide import NusWideConfig
from ovmlr.data.open_images import OpenImagesConfig
from ovmlr.data.sources import make_config

CONF = Path(__file__).resolve().parents[3] / "conf"


def load(env: str | None):
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="local", env=env)
    return loader["catalog"], loader["parameters"], loader["globals"]


@pytest.mark.parametrize(
    ("env", "dataset_type", "config_type", "strategy"),
    [
        (None, "ovmlr.datasets.FashionMNISTDataset", FashionMNISTConfig, "file"),
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


def test_default_mosaic_paths_come_from_the_shared_global():
    catalog, parameters, globals_ = load(None)
    assert catalog["mosaic_images"]["path"] == parameters["data_processing"]["source"]["mosaic_dir"]
    assert catalog["mosaic_images"]["path"] == globals_["mosaic_dir"]
    assert catalog["raw_source"]["directory"] == globals_["fashion_mnist_dir"]
    assert parameters["category_sets"]["unseen_names"] == ["sandal", "shirt", "bag"]
