"""The backbone pipeline on an in-memory catalog with real checkpoint files: trains once, then reuses."""

from __future__ import annotations

import logging

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from ovmlr.datasets import TorchStateDictDataset
from ovmlr.pipelines.backbone import create_pipeline


def _catalog(tmp_path, pretrain_pool, params) -> DataCatalog:
    checkpoint = params["demo"]["checkpoint_path"]
    return DataCatalog(
        {
            "pretrain_pool": MemoryDataset(pretrain_pool),
            "params:backbone": MemoryDataset(params),
            "params:backbone.device": MemoryDataset("cpu"),
            "demo_backbone_checkpoint": TorchStateDictDataset(checkpoint),
            "demo_backbone_previous": TorchStateDictDataset(checkpoint, missing_ok=True),
            "shipped_demo_backbone": MemoryDataset({}),
            "demo_backbone_config": JSONDataset(filepath=str(tmp_path / "demo" / "open_clip_config.json")),
            "demo_backbone_training_metrics": MemoryDataset(),
            "backbone_spec": JSONDataset(filepath=str(tmp_path / "backbone_spec.json")),
            "backbone_info": JSONDataset(filepath=str(tmp_path / "backbone_info.json")),
            "backbone_zero_shot_item_metrics": MemoryDataset(),
        }
    )


@pytest.mark.slow
def test_backbone_pipeline_trains_the_demo_backbone_once(tmp_path, pretrain_pool, params, caplog):
    caplog.set_level(logging.INFO)
    catalog = _catalog(tmp_path, pretrain_pool, params)
    SequentialRunner().run(create_pipeline(), catalog)
    assert "trained in" in caplog.text
    spec, info = catalog.load("backbone_spec"), catalog.load("backbone_info")
    assert (
        spec["pretrained"] == params["demo"]["checkpoint_path"] and info["backbone_id"] == spec["backbone_id"]
    )
    assert catalog.load("backbone_zero_shot_item_metrics")["mAP"]["value"] > 0.0

    caplog.clear()
    catalog = _catalog(tmp_path, pretrain_pool, params)
    SequentialRunner().run(create_pipeline(), catalog)
    assert "already built" in caplog.text and "trained in" not in caplog.text
    assert catalog.load("backbone_spec") == spec  # same weights file content -> same backbone_id
