"""The multimodal pipeline's fit part on an in-memory catalog (the tiny world as tables), and its nodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from ovmlr.datasets.mlflow_registry import ModelRegistration
from ovmlr.multimodal.data import modality_table
from ovmlr.multimodal.trained import TrainedCSCF
from ovmlr.pipelines.multimodal import create_fit_pipeline
from ovmlr.pipelines.multimodal.nodes import tagged_art_sample_texts

RNG = np.random.default_rng(0)
NAMES = [f"c{i}" for i in range(6)]
ROLES = ["seen"] * 5 + ["unseen"]
TEXT = RNG.normal(size=(6, 8))
TEXT /= np.linalg.norm(TEXT, axis=1, keepdims=True)
PARAMS = {
    "modalities": ["image", "text"],
    "alignment": "cosine",
    "ks": [1, 3],
    "compare_balancing": ["none", "cal"],
    "training": {"balancing": "cal", "epochs": 2, "batch_size": 32, "hidden": 16, "seed": 0},
    "fusion": {
        "neighbours": 2,
        "similarity_temperature": 0.1,
        "gamma_grid": {"own": [0.0, 0.5], "other": [0.0, 1.0]},
        "temperature_grid": {"min": 1.0, "max": 30.0, "steps": 5},
    },
    "robustness": {
        "noise_levels": [0.0, 1.0],
        "drop_fractions": [0.0, 1.0],
        "methods": ["cscf", "image"],
        "seed": 0,
    },
    "registry": {"dataset": "toy", "force_champion": False},
}


def _labels(prefix: str, n: int, unseen: bool) -> pd.DataFrame:
    y = (RNG.random((n, 6)) < 0.3).astype(np.int8)
    y[y.sum(1) == 0, 0] = 1
    frame = pd.DataFrame(y, columns=NAMES)
    if not unseen:
        frame = frame.drop(columns=["c5"])
    return frame.assign(image_id=[f"{prefix}{i}" for i in range(n)])[["image_id", *frame.columns]]


def _inputs() -> dict[str, Any]:
    splits = {
        "train": _labels("tr", 60, False),
        "val": _labels("va", 30, False),
        "test": _labels("te", 30, True),
    }
    ids = sum((s["image_id"].tolist() for s in splits.values()), [])
    y = np.concatenate([s.reindex(columns=NAMES, fill_value=0).to_numpy(float) for s in splits.values()])
    image = y @ TEXT + 0.5 * RNG.normal(size=(len(ids), 8))
    text = y @ TEXT + 0.2 * RNG.normal(size=(len(ids), 8))
    features = {
        "image": lambda: modality_table(ids, image),
        "text": lambda: modality_table(ids[:-3], text[:-3]),  # three test samples without text
    }
    category_split = pd.DataFrame({"category_id": np.arange(6), "name": NAMES, "role": ROLES})
    text_features = pd.DataFrame(
        {
            "category_id": np.arange(6),
            "name": NAMES,
            "template": "__ensemble__",
            "embedding": list(TEXT.astype(np.float32)),
        }
    )
    sets = pd.DataFrame(
        [
            ("image", 0, "c0"),
            ("image", 1, "c1"),
            ("image", 2, "c2"),
            ("text", 2, "c2"),
            ("text", 3, "c3"),
            ("text", 4, "c4"),
        ],
        columns=["modality", "category_id", "name"],
    )
    return {
        "multimodal_features": features,
        "train_labels": splits["train"],
        "val_labels": splits["val"],
        "test_labels": splits["test"],
        "category_split": category_split,
        "text_features": text_features,
        "modality_category_sets": sets,
    }


def _param(name: str) -> Any:
    value: Any = {"multimodal": PARAMS, "training": {"pico": {"iterations": 1, "n_style_prototypes": 2}}}
    for part in name.removeprefix("params:").split("."):
        value = value[part]
    return value


class KeptDataset(MemoryDataset):
    def _release(self) -> None:
        pass


def _run(inputs: dict[str, Any]) -> DataCatalog:
    pipeline = create_fit_pipeline()
    datasets = {
        name: MemoryDataset(_param(name), copy_mode="assign")
        for name in pipeline.inputs()
        if "params:" in name
    }
    datasets |= {
        name: MemoryDataset(inputs[name], copy_mode="assign") for name in pipeline.inputs() if name in inputs
    }
    datasets |= {name: KeptDataset(copy_mode="assign") for name in pipeline.all_outputs()}
    catalog = DataCatalog(datasets=datasets)
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_fit_pipeline_slice() -> None:
    catalog = _run(_inputs())
    models = catalog.load("cscf_models")
    assert list(models) == ["cal", "none"]  # the registered balancing first
    results = catalog.load("multimodal_results")
    assert set(results["balancing"]) == {"cal", "none"}
    assert {"image", "text", "late_mean", "late_max", "decision", "cscf", "oracle"} <= set(results["method"])
    assert {"origin/only:image/mAP", "origin/only:text/mAP", "origin/shared/mAP", "origin/unseen/mAP"} <= set(
        results
    )
    assert "| cal | CSCF (dominant + class-similarity refinement) |" in catalog.load("multimodal_results_md")
    assert "multimodal/cscf/union/mAP" in catalog.load("multimodal_metrics")
    curves = catalog.load("multimodal_robustness")
    assert len(curves) == 2 * 2 * 2 * 2 * 2  # balancing × modality × corruption × level × method
    dropped = curves[
        (curves["corruption"] == "drop") & (curves["level"] == 1.0) & (curves["modality"] == "text")
    ]
    assert dropped["union_mAP"].notna().all()  # text gone for every sample: the rule falls back to image
    assert isinstance(catalog.load("multimodal_robustness_plot"), Figure)
    trained, registration = catalog.load("cscf_trained"), catalog.load("cscf_registered_model")
    assert isinstance(trained, TrainedCSCF) and isinstance(registration, ModelRegistration)
    assert registration.trained is trained and registration.dataset == "toy"


def test_fit_pipeline_names_a_modality_without_a_table() -> None:
    inputs = _inputs()
    inputs["multimodal_features"] = {"image": inputs["multimodal_features"]["image"]}
    with pytest.raises(
        ValueError, match=r"multimodal.modalities lists \['text'\] but multimodal_features has only"
    ):
        _run(inputs)


def test_tagged_art_sample_texts_joins_titles_in_tile_order() -> None:
    layout = pd.DataFrame({"image_id": ["m1", "m1", "m2"], "tile": [1, 0, 0], "item_id": ["b", "a", "a"]})
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["Red apple ", "cat"]})
    out = tagged_art_sample_texts(layout, items)
    assert out.to_dict("records") == [
        {"image_id": "m1", "text": "Red apple; cat"},
        {"image_id": "m2", "text": "Red apple"},
    ]
    with pytest.raises(ValueError, match=r"items without a title in tagged_art_items: \['z'\]"):
        tagged_art_sample_texts(layout.assign(item_id=["z", "a", "a"]), items)
