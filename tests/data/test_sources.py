import pytest

from ovmlr.data.fashion_mnist import FashionMNISTConfig
from ovmlr.data.sources import build_tables, make_config


def test_config_from_parameters_turns_lists_into_tuples():
    config = make_config(FashionMNISTConfig, {"mosaic_dir": "m", "class_names": ["a", "b"]})
    assert config.class_names == ("a", "b") and config.grid_size == 2


def test_unknown_or_missing_option_is_an_error():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['grid'\] for FashionMNISTConfig"):
        make_config(FashionMNISTConfig, {"mosaic_dir": "m", "grid": 3})
    with pytest.raises(
        ValueError, match="data_processing.sources: .*missing 1 required positional argument: 'mosaic_dir'"
    ):
        make_config(FashionMNISTConfig, {})


def test_builder_is_chosen_by_the_release_type(tiny_fashion_release):
    options = {
        "mosaic_dir": "m",
        "pretrain_train_items": 50,
        "pretrain_heldout_items": 50,
        "train_images": 5,
        "val_images": 5,
        "test_images": 5,
    }
    tables = build_tables(tiny_fashion_release, {"fashion_mnist": options, "tagged_art": {"x": 1}}, seed=0)
    assert len(tables.image_manifest) == 15
    with pytest.raises(ValueError, match="data_processing.sources has no 'fashion_mnist' section"):
        build_tables(tiny_fashion_release, {"tagged_art": options}, seed=0)
    with pytest.raises(
        TypeError, match="raw_source loaded a dict; expected one of: FashionMNISTRelease, NusWideRelease"
    ):
        build_tables({}, {"fashion_mnist": options}, seed=0)
