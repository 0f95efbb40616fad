"""The evaluation pipeline on an in-memory catalog (the tiny world's pyfunc model), and one real sqlite
MLflow registry round trip."""

from __future__ import annotations

import io
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from ovmlr.core.model_factory import build_model
from ovmlr.core.scoring import predict_scores
from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset, ModelRegistration
from ovmlr.metrics import zsl_gzsl_metrics
from ovmlr.pipelines.evaluation import create_pipeline

PARAMS = {
    "training": {"finetune": {}, "pico": {"iterations": 2, "n_style_prototypes": 2, "seed": 0}},
    "evaluation": {
        "model_name": "ovmlr-c2srt",
        "model_alias": "champion",
        "ks": [1, 3],
        "retrieval_ks": [1, 5],
        "batch_size": 5,
        "image_root": ".",
        "device": "cpu",
        "baselines": {"prompt": "__ensemble__", "mkt_k": 16},
        "reports": {
            "seed": 0,
            "n_images": 3,
            "pr_curves": {"max_images": 10, "max_category_curves": 3},
            "category_ap": {"reference": "zero_shot", "max_categories": 40},
            "isr_selection": {"top_categories": 2, "crop": "center"},
            "attention": {"targets": None, "max_targets": 12, "max_images": 10, "layer": None},
            "relation_graphs": {"targets": None, "max_targets": 2, "n_cols": 2},
            "top_predictions": {"top_k": 3},
        },
    },
}
FIGURES = (
    "evaluation_pr_curves_plot",
    "evaluation_category_ap_plot",
    "evaluation_isr_selection_plot",
    "evaluation_ist_attention_plot",
    "evaluation_relation_graphs_plot",
    "evaluation_top_predictions_plot",
    "evaluation_pico_weights_plot",
)


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read every intermediate output."""

    def _release(self) -> None:
        pass


def _param(name: str) -> Any:
    value: Any = PARAMS
    for part in name.removeprefix("params:").split("."):
        value = value[part]
    return value


def _catalog(pipeline: Pipeline, inputs: dict[str, Any]) -> DataCatalog:
    datasets = {
        name: MemoryDataset(_param(name), copy_mode="assign")
        for name in pipeline.inputs()
        if "params:" in name
    }
    datasets |= {
        name: MemoryDataset(inputs[name], copy_mode="assign") for name in pipeline.inputs() if name in inputs
    }
    datasets |= {name: KeptDataset(copy_mode="assign") for name in pipeline.all_outputs()}
    return DataCatalog(datasets)


def _run(pipeline: Pipeline, inputs: dict[str, Any]) -> DataCatalog:
    catalog = _catalog(pipeline, inputs)
    SequentialRunner().run(pipeline, catalog)
    return catalog


def _png_size(figure: Figure) -> int:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    assert buffer.getvalue().startswith(b"\x89PNG")
    return len(buffer.getvalue())


def _direct_metrics(world) -> dict[str, float]:
    model = build_model(world.model_config)
    model.load_state_dict(world.champion.head_state)
    scores = predict_scores(
        model, world.global_feats, world.patch_feats, world.vocabulary, 64, torch.device("cpu")
    )
    return zsl_gzsl_metrics(scores, world.labels, world.vocabulary.unseen_mask, ks=(1,))


@pytest.mark.integration
def test_evaluation_pipeline_runs_in_memory(world) -> None:
    catalog = _run(create_pipeline(), world.inputs)
    summary = catalog.load("evaluation_summary")
    for key, value in _direct_metrics(world).items():
        assert summary["methods"]["c2srt"]["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert summary["zsl_skipped_ks"] == [3] and summary["baselines"] == {
        "prompt": "__ensemble__",
        "mkt_k": 16,
    }
    assert catalog.load("evaluation_metrics")["mkt_style/gzsl/mAP"]["value"] == pytest.approx(
        summary["methods"]["mkt_style"]["metrics"]["gzsl/mAP"]
    )
    table = catalog.load("evaluation_metrics_table")
    assert "| backbone zero-shot |" in table and "| backbone zero-shot, PICO alignment |" in table
    assert "GZSL image→text R@5" in table
    assert list(summary["methods"]) == ["c2srt", "zero_shot", "mkt_style", "zero_shot_pico"]
    assert catalog.load("evaluation_category_ap").shape == (24, 8)
    weights = catalog.load("evaluation_pico_weights_table")
    assert len(weights) == world.global_feats.shape[1]
    assert weights["semantic_probability"].is_monotonic_decreasing
    for name in FIGURES:
        figure = catalog.load(name)
        assert any(ax.has_data() or ax.images for ax in figure.axes), name
        assert _png_size(figure) > 5_000, name


@pytest.mark.integration
def test_metrics_slice_equals_the_champion_scores_table(world) -> None:
    pipeline = create_pipeline().from_nodes("extract_champion_node").to_nodes("report_metrics_node")
    catalog = _run(pipeline, world.inputs)
    scores = catalog.load("evaluation_champion_scores")
    names = list(world.vocabulary.names)
    direct = zsl_gzsl_metrics(scores[names].to_numpy(), world.labels, world.vocabulary.unseen_mask, ks=(1,))
    assert catalog.load("evaluation_summary")["methods"]["c2srt"]["metrics"]["gzsl/mAP"] == direct["gzsl/mAP"]
    assert "evaluation_pr_curves_plot" not in pipeline.all_outputs()


@pytest.mark.integration
@pytest.mark.parametrize("use_ist", [True, False])
def test_attention_slice_draws_fig_7(world, tmp_path, small_config, make_model, save_model, use_ist) -> None:
    champion = save_model(make_model(small_config(use_ist=use_ist), world.vocabulary), tmp_path / "m")
    pipeline = create_pipeline().to_nodes("plot_ist_attention_node")
    catalog = _run(pipeline, {**world.inputs, "c2srt_champion": champion})
    table = catalog.load("evaluation_ist_attention")
    if use_ist:
        assert len(table) == 2 * 2 * 2  # layers × unseen targets × K
        sums = table.groupby(["layer", "target"])["alpha"].sum().to_numpy()
        np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    else:
        assert table.empty and "alpha" in table.columns
    assert _png_size(catalog.load("evaluation_ist_attention_plot")) > 5_000
    assert "score_champion_node" not in {node.name for node in pipeline.nodes}


@pytest.mark.slow
@pytest.mark.integration
def test_champion_from_a_sqlite_registry(world, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        registry = MlflowRegisteredModelDataset(model_name="ovmlr-c2srt")
        registry.save(ModelRegistration(world.champion, "test", "gzsl/mAP", 0.5, description="test"))
        champion = MlflowRegisteredModelDataset(model_name="ovmlr-c2srt", load_alias="champion").load()
        pipeline = create_pipeline().from_nodes("extract_champion_node").to_nodes("report_metrics_node")
        catalog = _run(pipeline, {**world.inputs, "c2srt_champion": champion})
    finally:
        mlflow.set_tracking_uri(previous)
    summary = catalog.load("evaluation_summary")
    assert champion.info["model_uri"] == "models:/ovmlr-c2srt@champion"
    assert summary["model"]["dataset"] == "test" and summary["model"]["mode"] == "frozen"
    for key, value in _direct_metrics(world).items():
        assert summary["methods"]["c2srt"]["metrics"][key] == pytest.approx(value, abs=1e-6), key
    expected = pd.DataFrame(world.labels, columns=list(world.vocabulary.names))
    assert np.array_equal(catalog.load("evaluation_test_split").labels, expected.to_numpy())
