"""The training stage on an in-memory catalog: the recipe parsed once, trained (from scratch, or fine-tuned
from a registered model), selected, calibrated, tested, packaged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ovmlr.core.vocabulary import ENSEMBLE
from ovmlr.datasets.checkpoints import TrainingCheckpointsDataset
from ovmlr.pipelines.training import create_pipeline
from ovmlr.pipelines.training.nodes import (
    build_vocabulary,
    epoch_metrics,
    package_model,
    parse_training_recipe,
)
from ovmlr.training.runs import EpochRecord, RunSpec

D, P, N = 8, 4, 24
NAMES = ("cat", "dog", "car", "tree", "boat", "lion", "truck")
ROLES = ("seen",) * 5 + ("unseen",) * 2
PARAMS = {
    "prompt": ENSEMBLE,
    "loop": {"epochs": 2, "batch_size": 8, "lr": 1e-2, "ks": [1], "device": "cpu"},
    "model": {
        "config": "c2srt_small",
        "overrides": {"embed_dim": D, "ist.heads": 2, "ist.hidden_dim": 8, "isr.max_patches": 2},
    },
    "selection": {"protocol": "disjoint", "metric": "gzsl/mAP", "zero_shot_weights": [0.0, 0.5]},
    "registry": {"dataset": "toy"},
}


class FakeEmbeddings:
    """``load(keys) -> (global [n, D], patches [n, P, D])``."""

    def __init__(self, keys: list[str], rng: np.random.Generator) -> None:
        self.index = {k: i for i, k in enumerate(keys)}
        self.global_feats = rng.normal(size=(len(keys), D)).astype(np.float32)
        self.patch_feats = rng.normal(size=(len(keys), P, D)).astype(np.float32)

    def load(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [self.index[k] for k in keys]
        return self.global_feats[rows], self.patch_feats[rows]


def _inputs(tmp_path) -> dict:
    rng = np.random.default_rng(0)
    ids = [f"img{i:02d}" for i in range(3 * N)]
    text = rng.normal(size=(len(NAMES), D)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    labels = (rng.random((3 * N, len(NAMES))) < 0.4).astype(np.int8)
    labels[np.arange(len(NAMES)), np.arange(len(NAMES))] = 1
    table = pd.DataFrame({"image_id": ids, **{n: labels[:, i] for i, n in enumerate(NAMES)}})
    return {
        "params:training": PARAMS,
        "params:feature_extraction.templates": ["a photo of a {}."],
        "category_split": pd.DataFrame({"category_id": range(len(NAMES)), "name": NAMES, "role": ROLES}),
        "text_features": pd.DataFrame(
            [
                {"category_id": i, "name": n, "template": ENSEMBLE, "embedding": text[i]}
                for i, n in enumerate(NAMES)
            ]
        ),
        "category_neighbours": pd.DataFrame(
            {
                "category_id": range(len(NAMES)),
                "neighbour_ids": [[(i + 1) % 5, (i + 2) % 5] for i in range(7)],
            }
        ),
        "image_embeddings": FakeEmbeddings([f"key-{i}" for i in ids], rng),
        "image_keys": pd.DataFrame({"image_id": ids, "image_key": [f"key-{i}" for i in ids]}),
        "train_labels": table.iloc[:N],
        "val_labels": table.iloc[N : 2 * N],
        "test_labels": table.iloc[2 * N :],
        "backbone_info": {"embed_dim": D, "logit_scale": 10.0, "backbone_id": "toy"},
        "backbone_spec": {"model_name": "toy"},
        "image_manifest": pd.DataFrame(),
        "training_resume": TrainingCheckpointsDataset(str(tmp_path / "checkpoints")),
        "training_checkpoints": TrainingCheckpointsDataset(str(tmp_path / "checkpoints")),
        "training_init_model": None,
    }


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read every intermediate output."""

    def _release(self) -> None:
        pass


def _catalog(inputs: dict, pipeline) -> DataCatalog:
    datasets = {k: v if hasattr(v, "_save") else KeptDataset(v) for k, v in inputs.items()}
    datasets |= {name: KeptDataset() for name in pipeline.datasets() if name not in datasets}
    return DataCatalog(datasets)


def _run(tmp_path, inputs: dict | None = None, *last: str) -> DataCatalog:
    pipeline = create_pipeline().to_nodes(*(last or ["compute_test_metrics_node"]))
    catalog = _catalog(inputs or _inputs(tmp_path), pipeline)
    SequentialRunner().run(pipeline, catalog)
    return catalog


@pytest.mark.slow
def test_the_slice_trains_selects_and_tests_on_an_in_memory_catalog(tmp_path) -> None:
    catalog = _run(tmp_path)
    trained = catalog.load("c2srt_trained")
    assert trained.vocabulary.names == NAMES and trained.info["dataset"] == "toy"
    assert trained.info["selection_metric"] == "disjoint/gzsl/mAP" and trained.info["zero_shot_weight"] in (
        0,
        0.5,
    )
    summary = catalog.load("test_metrics_summary")
    assert {"test/zsl/mAP", "test/gzsl/mAP"} <= set(summary) and 0 < summary["test/gzsl/mAP"] <= 1
    folders = list((tmp_path / "checkpoints").iterdir())
    assert len(folders) == 2  # the selection run and the final run, every epoch on disk
    run = catalog.load("training_run")
    assert run["selection"] == "disjoint/gzsl/mAP" and {"selection_fingerprint", "final_fingerprint"} <= set(
        run
    )
    thresholds = trained.thresholds  # seen labels on val, new names on the pseudo-unseen ones
    assert set(thresholds.labels) == set(NAMES[:5]) and thresholds.new_name.source == "disjoint-val"
    assert "lineage" not in trained.info


PARENT_URI = "models:/toy-c2srt@champion"
# the new dataset: "boat" is gone, "bus" is new; the parent's "boat" (seen) and "truck" (unseen) are not in it
NEW_NAMES = ("cat", "dog", "car", "tree", "bus", "lion", "zebra")


def _parent(tmp_path) -> object:
    parent = _run(tmp_path / "parent").load("c2srt_trained")
    parent.info |= {"model_uri": PARENT_URI, "registered_model": {"name": "toy-c2srt", "version": "3"}}
    return parent


def _finetune_inputs(tmp_path, parent, vocabulary: str, lr: float = 1e-2) -> dict:
    inputs = _inputs(tmp_path)
    rename = dict(zip(NAMES, NEW_NAMES, strict=True))
    for key in ("train_labels", "val_labels", "test_labels"):
        inputs[key] = inputs[key].rename(columns=rename)
    inputs["category_split"] = inputs["category_split"].assign(name=list(NEW_NAMES))
    inputs["text_features"] = inputs["text_features"].assign(name=list(NEW_NAMES))
    params = PARAMS | {
        "init": {"model_uri": PARENT_URI, "vocabulary": vocabulary},
        "loop": PARAMS["loop"] | {"lr": lr},
        "registry": {"dataset": "toy-custom"},
    }
    return inputs | {"params:training": params, "training_init_model": parent}


@pytest.mark.slow
def test_fine_tuning_starts_from_the_parent_and_registers_its_lineage(tmp_path) -> None:
    parent = _parent(tmp_path)
    inputs = _finetune_inputs(tmp_path / "child", parent, "keep", lr=0.0)  # lr 0: the head stays the parent's
    catalog = _run(tmp_path / "child", inputs, "package_model_node", "plot_threshold_reliability_node")
    child = catalog.load("c2srt_trained")
    for key, value in parent.head_state.items():
        np.testing.assert_array_equal(child.head_state[key].numpy(), value.numpy())
    assert child.vocabulary.names == (*NEW_NAMES, "boat", "truck")
    assert child.dataset_vocabulary.names == NEW_NAMES and child.info["dataset"] == "toy-custom"
    assert child.thresholds.labels["bus"].source == "val"
    boat = parent.thresholds.labels["boat"]
    assert child.thresholds.labels["boat"] == replace(boat, source="parent models:/toy-c2srt/3")
    registration = catalog.load("c2srt_registered_model")
    assert (
        registration.tags["ovmlr.parent_model"] == "toy-c2srt"
        and registration.tags["ovmlr.parent_version"] == "3"
    )
    assert registration.tags["ovmlr.init_vocabulary"] == "keep"
    assert "## Lineage" in registration.model_card and PARENT_URI in registration.model_card
    assert "## Decision thresholds (rule `f1`)" in registration.model_card
    assert catalog.load("threshold_reliability_plot").axes
    summary = catalog.load("test_metrics_summary")  # tested on this dataset's categories only
    assert 0 < summary["test/gzsl/mAP"] <= 1


@pytest.mark.slow
def test_fine_tuning_can_drop_the_parents_vocabulary_and_a_missing_parent_is_named(tmp_path) -> None:
    parent = _parent(tmp_path)
    child = _run(
        tmp_path / "child", _finetune_inputs(tmp_path / "child", parent, "drop"), "inherit_from_parent_node"
    )
    trained = child.load("c2srt_trained")
    assert trained.vocabulary.names == NEW_NAMES and trained.info["lineage"]["kept_labels"] == []
    assert trained.info["fingerprint"] != parent.info["fingerprint"]
    missing = _finetune_inputs(tmp_path / "again", parent, "drop") | {"training_init_model": None}
    with pytest.raises(Exception, match="training_init_model loaded no model"):
        _run(tmp_path / "again", missing, "plan_training_node")


@pytest.mark.slow
def test_a_resumed_run_trains_nothing_more_and_selects_the_same_model(tmp_path) -> None:
    first = _run(tmp_path).load("c2srt_trained")
    params = PARAMS | {"loop": PARAMS["loop"] | {"resume": True}}
    inputs = _inputs(tmp_path) | {"params:training": params}
    again = _run(tmp_path, inputs, "select_best_checkpoint_node").load("c2srt_selected")
    assert again.info["epoch"] == first.info["epoch"]
    for key, value in first.head_state.items():
        np.testing.assert_array_equal(again.head_state[key].numpy(), value.numpy())


def test_the_recipe_names_an_unknown_section_and_the_vocabulary_refuses_prompt_tuning() -> None:
    with pytest.raises(ValueError, match=r"unknown training parameter\(s\) \['epochs'\]"):
        parse_training_recipe(PARAMS | {"epochs": 3})
    recipe = parse_training_recipe(PARAMS | {"prompt": "__coop__"})
    with pytest.raises(ValueError, match="prompt tuning"):
        build_vocabulary(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), recipe)


def test_the_selection_runs_metrics_are_logged_under_disjoint() -> None:
    history = [{"epoch": 1.0, "val/gzsl/mAP": 0.5, "train/loss": 2.0}]
    run = RunSpec("selection", "r", None, None, None)
    metrics = epoch_metrics(EpochRecord(run, {"epoch": 1, "history": history}, True))
    assert metrics == {
        "disjoint/gzsl/mAP": {"value": 0.5, "step": 1},
        "disjoint/train/loss": {"value": 2.0, "step": 1},
    }
    final = epoch_metrics(
        EpochRecord(RunSpec("final", "r", None, None, None), {"epoch": 1, "history": history}, True)
    )
    assert "val/gzsl/mAP" in final


def test_an_untrained_head_is_never_registered(tmp_path) -> None:
    from types import SimpleNamespace

    model = SimpleNamespace(info={"trainable": False})
    with pytest.raises(ValueError, match="no trainable parameter on frozen features"):
        package_model(model, {}, parse_training_recipe(PARAMS))
