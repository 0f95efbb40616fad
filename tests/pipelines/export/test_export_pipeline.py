"""The export pipeline on a catalog: the model from the MLflow registry, the ONNX file and its sidecar."""

import json

import mlflow
import numpy as np
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from ovmlr.datasets import OnnxModelDataset
from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset, ModelRegistration
from ovmlr.pipelines.export import create_pipeline
from ovmlr.trained.export import onnx_scores

pytest.importorskip("onnxruntime")


def catalog(tmp_path, model_dataset, labels, tolerance=1e-4) -> DataCatalog:
    return DataCatalog(
        {
            "export_model": model_dataset,
            "params:export.labels": MemoryDataset(labels),
            "params:export.tolerance": MemoryDataset(tolerance),
            "export_label_set": MemoryDataset(copy_mode="assign"),
            "onnx_model": OnnxModelDataset(str(tmp_path / "export" / "model.onnx")),
            "onnx_sidecar": JSONDataset(filepath=str(tmp_path / "export" / "model.json")),
        }
    )


@pytest.mark.slow
def test_export_of_the_registered_champion(tmp_path, monkeypatch, trained):
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("test")
    registry = MlflowRegisteredModelDataset(model_name="toy")
    registry.save(
        ModelRegistration(trained=trained, dataset="test", selection_metric="m", selection_value=0.5)
    )
    SequentialRunner().run(create_pipeline(), catalog(tmp_path, registry, "cat|zebra"))
    sidecar = json.loads((tmp_path / "export" / "model.json").read_text())
    assert sidecar["labels"] == ["cat", "zebra"] and sidecar["label_policies"] == ["training", "similarity"]
    assert sidecar["check"]["max_abs_diff_vs_pytorch"] < 1e-4
    assert sidecar["model"]["dataset"] == "test"
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    exported = onnx_scores((tmp_path / "export" / "model.onnx").read_bytes(), images.numpy())
    reference = trained.score(*trained.encode_images(images), trained.labels(["cat", "zebra"]))
    np.testing.assert_allclose(exported, reference, atol=1e-4, rtol=0)


def test_the_default_exports_the_whole_vocabulary_and_a_tolerance_is_enforced(tmp_path, trained):
    runner = SequentialRunner()
    runner.run(create_pipeline(), catalog(tmp_path, MemoryDataset(trained, copy_mode="assign"), None))
    sidecar = json.loads((tmp_path / "export" / "model.json").read_text())
    assert sidecar["labels"] == list(trained.vocabulary.names)
    with pytest.raises(ValueError, match=r"onnxruntime differs from PyTorch by .* > tolerance -1"):
        runner.run(
            create_pipeline(), catalog(tmp_path, MemoryDataset(trained, copy_mode="assign"), None, -1.0)
        )
