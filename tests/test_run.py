"""Boot the project from a temporary copy and run ``train``, then ``evaluation``, ``predict`` and
``ablation``, through Kedro on a tiny configuration of the default dataset (tagged art: the real Openclipart
animals folder and the Noto emoji with their CLDR keywords, demo backbone, MLflow on sqlite); and ``train``
in the ``fashion_mnist`` environment on the real Fashion-MNIST files.

Each pipeline runs in its own session, as a user runs them one after the other: whatever a later pipeline
reads from an earlier one must therefore be persisted by the catalog."""

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.tracking import MlflowClient

PROJECT = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
OPENCLIPART_ANIMALS = Path("/usr/share/openclipart/svg/animals")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
MODEL_NAME = "ovmlr-c2srt-tagged-art"

TINY = {
    "data_processing": {
        "sources": {"tagged_art": {"train_images": 160, "val_images": 48, "test_images": 64}}
    },
    "category_sets": {"num_unseen": 8},
    "backbone": {"demo": {"training": {"epochs": 1, "batch_size": 64, "warmup_steps": 2, "max_items": 512}}},
    # finetune (the paper's mode; the default is frozen for the CPU budget) covers the student end to end
    "training": {"loop": {"epochs": 2, "batch_size": 32, "mode": "finetune"}},
}
TINY_FASHION_MNIST = {
    "data_processing": {
        "sources": {
            "fashion_mnist": {
                "pretrain_train_items": 600,
                "pretrain_heldout_items": 100,
                "train_images": 160,
                "val_images": 48,
                "test_images": 64,
            },
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

TINY_MULTIMODAL = {
    "multimodal": {
        "compare_balancing": ["none", "cal"],
        "training": {"epochs": 2, "hidden": 32},
        "robustness": {"noise_levels": [0.0, 1.0], "drop_fractions": [0.0, 1.0]},
    }
}
pytestmark = [pytest.mark.integration, pytest.mark.slow]
needs_tagged_art = pytest.mark.skipif(
    not (OPENCLIPART_ANIMALS.is_dir() and EMOJI_FONT.is_file()),
    reason="Debian packages openclipart-svg, fonts-noto-color-emoji not installed (CI installs them)",
)
needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed (CI installs it)",
)


def render_png(svg: Path) -> bytes:
    """An SVG rendered to PNG bytes (RGBA, 128 px)."""
    import io

    from PIL import Image

    from ovmlr.data.tagged_art.render import rasterise_svg

    buffer = io.BytesIO()
    Image.fromarray(rasterise_svg(svg.read_bytes(), 128, 4_000_000, 4.0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _copy_project(root: Path) -> Path:
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()  # Kedro checks that the source dir exists; the ovmlr package is installed
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = _copy_project(tmp_path_factory.mktemp("project"))
    # One Openclipart folder (316 SVGs) and no OpenMoji keep the tiny run's rendering to seconds.
    (root / "conf" / "local" / "globals.yml").write_text(
        f"openclipart_dir: {OPENCLIPART_ANIMALS}\nopenmoji_dir: null\n"
    )
    return root


def _run(root: Path, pipeline: str, extra: dict, env: str | None = None) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=extra, env=env) as session:
        session.run(pipeline_names=[pipeline])
    # Each `kedro run` is its own process, whose exit ends the MLflow run. In one process, kedro-mlflow 2.0.3
    # leaves the pipeline's run on MLflow's active-run stack, and the next session would log into it.
    while mlflow.active_run():
        mlflow.end_run()


@needs_tagged_art
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
    categories = pd.read_parquet(project / "data/03_primary/categories.parquet")
    assert len(categories) > 20  # tags of the animals folder and the emoji keywords
    metrics = json.loads((project / "data/08_reporting/test_metrics.json").read_text())
    assert 0 <= metrics["test/gzsl/mAP"] <= 1 and 0 <= metrics["test/zsl/mAP"] <= 1

    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    client = MlflowClient()
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    candidate = client.get_model_version_by_alias(MODEL_NAME, "candidate")
    assert champion.version == candidate.version  # first run: candidate becomes champion
    run = client.get_run(candidate.run_id)
    # strict default (class-disjoint validation): the selection run's pseudo-unseen GZSL chose the epoch, and
    # the final run validated on the val split's seen categories only: no unseen metric was ever computed
    assert {"test/gzsl/mAP", "disjoint/gzsl/mAP", "disjoint/zsl/mAP", "val/seen/mAP"} <= set(run.data.metrics)
    assert not [m for m in run.data.metrics if m.startswith("val/") and ("zsl" in m)]
    assert candidate.tags["ovmlr.selection_metric"] == "disjoint/gzsl/mAP"
    assert run.data.params["training.loop.epochs"] == "2"
    assert run.data.params["training.loop.mode"] == "finetune"  # student + distillation, as in the paper

    # The logged model is self-contained (its backbone's weights inside, safetensors) and pins what it needs.
    model_uri = f"models:/{MODEL_NAME}/{candidate.version}"
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    requirements = (local / "requirements.txt").read_text()
    assert "open_clip_torch==" in requirements and "torch_geometric==" in requirements, requirements
    assert (local / "code" / "ovmlr" / "trained" / "pyfunc.py").exists()
    folder = local / "artifacts" / "trained_model"
    assert {"backbone.safetensors", "student.safetensors", "MODEL_CARD.md"} <= {
        p.name for p in folder.iterdir()
    }
    assert not list(local.rglob("*.pkl"))  # models from code: nothing pickled

    _run(project, "evaluation", {})
    evaluated = json.loads((project / "data/08_reporting/evaluation_metrics.json").read_text())
    assert evaluated["model"]["mode"] == "finetune"  # the model's own mode, not today's parameters
    attention = pd.read_parquet(project / "data/08_reporting/evaluation_ist_attention.parquet")  # Fig. 7
    sums = attention.groupby(["layer", "target"])["alpha"].sum()
    assert len(sums) and np.allclose(sums, 1.0, atol=1e-4)
    assert (project / "data/08_reporting/relation_graphs_compared.png").stat().st_size > 10_000  # Fig. 10

    # Tag images the project never saw (Openclipart from another folder, one broken) with new names.
    images = project / "my_images"
    images.mkdir()
    for svg in sorted(Path("/usr/share/openclipart/svg/food").glob("*.svg"))[:5]:
        (images / (svg.stem + ".png")).write_bytes(render_png(svg))
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    labels = ["pizza", "bread", "zebra", "volcano"]
    _run(project, "predict", {"predict": {"images": str(images), "labels": labels, "explain": True}})
    table = pd.read_parquet(project / "data/07_model_output/predictions.parquet")
    assert len(table) == 5 and set(labels) <= set(table.columns)
    assert pd.read_parquet(project / "data/08_reporting/prediction_skipped.parquet")["path"].tolist() == [
        str(images / "broken.jpg")
    ]
    assert (project / "data/08_reporting/prediction_contact_sheet.png").stat().st_size > 10_000
    explanations = sorted((project / "data/08_reporting/prediction_explanations").glob("*.png"))
    assert len(explanations) == 5 and all(p.stat().st_size > 10_000 for p in explanations)  # predict.explain

    _run(project, "ablation", TINY_ABLATION)
    shards = sorted((project / "data/07_model_output/ablation_rows").glob("part-*.parquet"))
    assert len(shards) == 3 + 3  # 3 baselines + 3 variants x 1 seed, each stored as soon as computed
    table = pd.read_csv(project / "data/08_reporting/ablation_tables_table.csv")
    assert {"+Dist+ISR+IST (C²SRT)", "ISR + IST (frozen)", "Random"} <= set(table["variant"])
    assert (project / "data/08_reporting/ablation_tables_table.md").read_text().count("\n") >= 4
    assert (project / "data/08_reporting/ablation_tables.png").stat().st_size > 10_000

    _run(project, "ablation", TINY_ABLATION)  # a re-run finds every result stored and trains nothing
    assert sorted((project / "data/07_model_output/ablation_rows").glob("part-*.parquet")) == shards
    pd.testing.assert_frame_equal(pd.read_csv(project / "data/08_reporting/ablation_tables_table.csv"), table)

    # CSCF: the mosaics and their items' titles as two modalities, trained on heterogeneous category sets.
    _run(project, "multimodal", TINY_MULTIMODAL)
    assert sorted(p.name for p in (project / "data/04_feature/modalities").iterdir()) == [
        "image.parquet",
        "text.parquet",
    ]
    results = pd.read_parquet(project / "data/08_reporting/multimodal_results.parquet")
    assert set(results["balancing"]) == {"none", "cal"} and "origin/shared/mAP" in results
    assert (project / "data/08_reporting/multimodal_robustness.png").stat().st_size > 10_000
    cscf = MlflowClient().get_model_version_by_alias(f"{MODEL_NAME}-cscf", "champion")
    assert cscf.tags["ovmlr.balancing"] == "cal"


@needs_fashion_mnist
def test_the_fashion_mnist_environment_trains(tmp_path, monkeypatch):
    root = _copy_project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _run(root, "train", TINY_FASHION_MNIST, env="fashion_mnist")
    categories = pd.read_parquet(root / "data/03_primary/categories.parquet")
    assert categories["name"].tolist()[:2] == ["t-shirt", "trouser"]
    split = pd.read_parquet(root / "data/03_primary/category_split.parquet")
    assert split.loc[split.role == "unseen", "name"].tolist() == ["sandal", "shirt", "bag"]
    # Look the model up in the store this session used: within one process kedro-mlflow keeps the tracking
    # store of the first project it configured (each `kedro run` is its own process).
    version = MlflowClient(tracking_uri=mlflow.get_tracking_uri()).get_model_version_by_alias(
        "ovmlr-c2srt", "champion"
    )
    assert int(version.version) == 1
