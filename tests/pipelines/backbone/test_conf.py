"""The backbone / feature_extraction configuration agrees with itself (paths shared by catalog and params)."""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader

from ovmlr.backbones.demo import DemoTrainingConfig
from ovmlr.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).resolve().parents[3] / "conf"


def _load():
    loader = OmegaConfigLoader(str(CONF), **CONFIG_LOADER_ARGS)
    return loader["catalog"], loader["parameters"], loader["globals"]


def test_the_spec_points_at_the_checkpoint_the_catalog_writes():
    catalog, parameters, globals_ = _load()
    written = catalog["demo_backbone_checkpoint"]["dataset"]["filepath"]
    assert written == catalog["demo_backbone_previous"]["filepath"]
    assert written == parameters["backbone"]["demo"]["checkpoint_path"]
    assert written.startswith(globals_["demo_backbone_dir"])


def test_both_cache_entries_read_the_spec_the_backbone_stage_writes():
    catalog, _, globals_ = _load()
    index, cache = catalog["image_embedding_index"], catalog["image_embeddings"]
    assert index == cache
    assert cache["path"] == globals_["embedding_cache_dir"]
    assert cache["backbone_spec_filepath"] == catalog["backbone_spec"]["dataset"]["filepath"]


def test_default_parameters_are_valid():
    _, parameters, globals_ = _load()
    DemoTrainingConfig.from_params(parameters["backbone"]["demo"]["training"])
    assert parameters["feature_extraction"]["templates"] == globals_["prompt_templates"]
    assert parameters["backbone"]["zero_shot"]["templates"] == globals_["prompt_templates"]
    assert parameters["backbone"]["kind"] == "demo"
