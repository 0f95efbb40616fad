"""Boot the project from a temporary copy and run ``train``, then ``evaluation`` and ``ablation``, through
Kedro on a tiny configuration of the default dataset: real Fashion-MNIST files, demo backbone, MLflow
on sqlite.

Each pipeline runs in its own session, as a user runs them one after the other: whatever a later pipeline
reads from an earlier one must therefore be persisted by the catalog."""

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.models import validate_serving_input
from mlflow.tracking import MlflowClient

PROJECT = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

TINY = {
    "data_processing": {
        "source": {
            "pretrain_train_items": 600,
            "pretrain_heldout_items": 100,
            "train_images": 160,
            "val_images": 48,
            "test_images": 64,
        },
    },
    "backbone": {"demo": {"training": {"epochs": 1, "batch_size": 64, "warmup_steps": 2}}},
    "relation_mining": {"source": "similarity"},  # the LLM backends have their own tests
    "training": {"loop": {"epochs": 2, "batch_size": 32}},
}
TINY_ABLATION = {
    "ablation": {
        "seeds": [0],
        "common": {"loop": {"epochs": 1}},
        "variants": [
            {"name": "+Dist+ISR+IST (C²SRT)", "table": "Table 3", "training": {"loop": {"mode": "finetune"}}},
            {"name": "ISR + IST (frozen)", "table": "Table 3"},
            {"name": "Random", "table": "Table 4", "relation_source": "random"},
        ],
    },
}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").exists(),
        reason="Debian package dataset-fashion-mnist not installed (CI installs it)",
    ),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()  # Kedro checks that the source dir exists; the ovmlr package is installed
    return root


def _run(root: Path, pipeline: str, extra: dict) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=extra) as session:
        session.run(pipeline_names=[pipeline])
    # Each `kedro run` is its own process, whose exit ends the MLflow run. In one process, kedro-mlflow 2.0.3
    # leaves the pipeline's run on MLflow's active-run stack, and the next session would log into it.
    while mlflow.active_run():
        mlflow.end_run()


def test_train_then_evaluate_end_to_end(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _run(project, "train", TINY)

    for produced in (
        "data/03_primary/image_manifest.parquet",
        "data/05_model_input/test_labels.parquet",
        "data/08_reporting/category_summary.png",
        "data/06_models/backbone_info.json",
        "data/08_reporting/test_metrics.json",
    ):
        assert (project / produced).exists(), produced
    manifest = pd.read_parquet(project / "data/03_primary/image_manifest.parquet")
    assert manifest.split.value_counts().to_dict() == {"train": 160, "test": 64, "val": 48}
    metrics = json.loads((project / "data/08_reporting/test_metrics.json").read_text())
    assert 0 <= metrics["test/gzsl/mAP"] <= 1 and 0 <= metrics["test/zsl/mAP"] <= 1

    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    client = MlflowClient()
    champion = client.get_model_version_by_alias("ovmlr-c2srt", "champion")
    candidate = client.get_model_version_by_alias("ovmlr-c2srt", "candidate")
    assert champion.version == candidate.version  # first run: candidate becomes champion
    run = client.get_run(candidate.run_id)
    assert "test/gzsl/mAP" in run.data.metrics and "val/gzsl/mAP" in run.data.metrics
    assert run.data.params["training.loop.epochs"] == "2"
    assert run.data.params["training.loop.mode"] == "finetune"  # the default: student + distillation

    # The logged model pins what it needs and its serving example passes MLflow's own validation.
    model_uri = f"models:/ovmlr-c2srt/{candidate.version}"
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    requirements = (local / "requirements.txt").read_text()
    assert "torch==" in requirements and "torch_geometric==" in requirements, requirements
    assert (local / "code" / "ovmlr" / "training" / "pyfunc.py").exists()
    scores = validate_serving_input(model_uri, (local / "serving_input_example.json").read_text())
    assert scores.shape == (2, 10)

    _run(project, "evaluation", {})
    evaluated = json.loads((project / "data/08_reporting/evaluation_metrics.json").read_text())
    assert evaluated  # the champion scored through its pyfunc on the test split

    _run(project, "ablation", TINY_ABLATION)
    shards = sorted((project / "data/07_model_output/ablation_rows").glob("part-*.parquet"))
    assert len(shards) == 2 + 3  # 2 baselines + 3 variants x 1 seed, each stored as soon as computed
    table = pd.read_csv(project / "data/08_reporting/ablation_table.csv")
    assert {"+Dist+ISR+IST (C²SRT)", "ISR + IST (frozen)", "Random"} <= set(table["variant"])
    assert (project / "data/08_reporting/ablation_table.md").read_text().count("\n") >= 4

    _run(project, "ablation", TINY_ABLATION)  # a re-run finds every result stored and trains nothing
    assert sorted((project / "data/07_model_output/ablation_rows").glob("part-*.parquet")) == shards
    pd.testing.assert_frame_equal(pd.read_csv(project / "data/08_reporting/ablation_table.csv"), table)
