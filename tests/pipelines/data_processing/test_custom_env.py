"""``kedro run --env custom`` on a tiny generated folder (36 rendered images, a CSV, an unseen file): the
project's own configuration of the custom environment builds the tables, splits the categories and extracts
features, then trains, evaluates, predicts and exports (a tiny random-weight backbone stands in for the
pretrained CLIP), each pipeline in its own Kedro session."""

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from data_replicas import write_custom_folder
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError

PROJECT = Path(__file__).resolve().parents[3]
TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY = {
    "data_processing": {"sources": {"custom": {"val_fraction": 0.2, "test_fraction": 0.2}}},
    "backbone": {
        "model_name": "ovmlr-test-custom-tiny",
        "model_config": TINY_CLIP,
        "pretrained": None,
        "allow_random_weights": True,
    },
}
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(PROJECT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src").mkdir()
    folder = tmp_path / "my_photos"
    write_custom_folder(folder)
    (folder / "unseen.txt").write_text("Green\n", encoding="utf-8")
    env_globals = tmp_path / "conf" / "custom" / "globals.yml"  # --env custom replaces conf/local
    text = env_globals.read_text().replace("custom_dir: data/01_raw/custom", f"custom_dir: {folder}")
    env_globals.write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def run(root: Path, pipelines: list[str], extra: dict) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=extra, env="custom") as session:
        session.run(pipeline_names=pipelines)
    while mlflow.active_run():  # see tests/test_run.py: one process, several sessions
        mlflow.end_run()


def test_custom_environment_builds_tables_category_sets_and_features(project):
    run(project, ["data_processing", "category_sets", "backbone", "feature_extraction"], TINY)
    manifest = pd.read_parquet(project / "data/03_primary/image_manifest.parquet")
    assert len(manifest) == 36 and set(manifest["split"]) == {"train", "val", "test"}
    split = pd.read_parquet(project / "data/03_primary/category_split.parquet")
    assert split.set_index("name")["role"].to_dict() == {
        "blue square": "seen",
        "circle": "seen",
        "green": "unseen",
        "red": "seen",
    }
    report = json.loads((project / "data/08_reporting/vocabulary_report.json").read_text())
    assert {"tag": "rare", "items": 2, "reason": "on 2 image(s), fewer than min_count 5"} in report
    assert pd.read_parquet(project / "data/08_reporting/image_feature_report.parquet").empty
    keys = pd.read_parquet(project / "data/04_feature/image_keys.parquet")
    assert len(keys) == 36
    text = pd.read_parquet(project / "data/04_feature/text_features.parquet")
    assert set(text["category_id"]) == {0, 1, 2, 3}


def test_a_bad_tag_file_stops_the_run_naming_file_and_line(project):
    tags = project / "my_photos" / "tags.csv"
    tags.write_text(tags.read_text() + ",red\n")
    with pytest.raises(DatasetError, match=r"tags.csv, line 38: a tag row without an image"):
        run(project, ["data_processing"], TINY)


TINY_TRAIN = {
    **TINY,
    "relation_mining": {"source": "similarity", "k": 1},
    "training": {
        "loop": {"epochs": 2, "batch_size": 8},
        "model": {
            "config": "c2srt_small",
            "overrides": {"embed_dim": 16, "ist": {"heads": 2, "hidden_dim": 8}},
        },
        "selection": {"held_out_fraction": 0.34},
    },
}


def test_train_evaluate_predict_and_export_on_your_own_folder(project):
    run(project, ["train"], TINY_TRAIN)
    client = mlflow.tracking.MlflowClient(f"sqlite:///{project}/mlflow.db")
    champion = client.get_model_version_by_alias("ovmlr-c2srt-custom", "champion")
    assert champion.tags["ovmlr.dataset"] == "custom"
    run(
        project, ["evaluation"], {"evaluation": {"reports": {"top_predictions": {"top_k": 3}}}}
    )  # 4 categories
    metrics = json.loads((project / "data/08_reporting/evaluation_metrics.json").read_text())
    assert metrics["model"]["mode"] == "frozen"
    photos = project / "my_photos" / "images"
    run(
        project,
        ["predict"],
        {"predict": {"images": str(photos / "sub"), "labels": ["green", "circle", "kite"]}},
    )
    table = pd.read_parquet(project / "data/07_model_output/predictions.parquet")
    assert len(table) == 8 and {"green", "circle", "kite"} <= set(table.columns)
    run(project, ["export"], {"export": {"labels": "green|circle|kite"}})
    sidecar = json.loads((project / "data/06_models/export/model.json").read_text())
    assert (
        sidecar["labels"] == ["green", "circle", "kite"]
        and sidecar["check"]["max_abs_diff_vs_pytorch"] < 1e-4
    )
