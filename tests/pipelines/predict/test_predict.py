"""The predict pipeline on an in-memory catalog: a tiny trained model, a folder of mixed images (one
broken), new label names; a re-run encodes nothing."""

from __future__ import annotations

import faulthandler
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.llm.cache import empty_cache_frame
from ovmlr.pipelines.predict import create_pipeline
from ovmlr.pipelines.predict.nodes import read_label_names
from ovmlr.trained.limits import ServingLimits
from ovmlr.trained.pyfunc import TrainedC2SRTPyfunc

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))  # hostile_images.py

LABELS = ["zebra", "cat", "fire truck", "lion"]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read every output."""

    def _release(self) -> None:
        pass


def _catalog(trained, folder, cache, labels, explain: bool = False, threshold=None) -> DataCatalog:
    params = {
        "threshold": threshold,
        "images": str(folder),
        "labels": labels,
        "policy": "similarity",
        "top_k": 2,
        "encoding": {"batch_size": 2, "num_workers": 0, "chunk_size": 4},
        "contact_sheet": {"max_images": 4, "n_cols": 2, "top_k": 2},
        "explain": explain,
        "explanation": {"max_images": 2, "top_labels": 2},
    }
    catalog = DataCatalog(
        {
            "prediction_embedding_index": EmbeddingCacheDataset(str(cache)),
            "prediction_embeddings": EmbeddingCacheDataset(str(cache)),
        }
    )
    inputs = {
        "predict_model": trained,
        "llm_backend": None,
        "prediction_llm_cache_before": empty_cache_frame(),
        "params:relation_mining.llm": {},
        **{f"params:predict.{k}": v for k, v in params.items()},
        "params:predict.encoding.batch_size": 2,
    }
    for name, value in inputs.items():
        catalog[name] = MemoryDataset(value, copy_mode="assign")
    for name in create_pipeline().all_outputs() - {"prediction_embeddings"}:
        catalog[name] = KeptDataset(copy_mode="assign")
    return catalog


def test_predict_tags_a_folder_and_reuses_the_cache(trained, image_files, tmp_path) -> None:
    folder = image_files[0].parent
    (folder / "broken.png").write_bytes(b"not a png")
    catalog = _catalog(trained, folder, tmp_path / "cache", LABELS)
    SequentialRunner().run(create_pipeline(), catalog)
    table = catalog.load("predictions")
    assert len(table) == 5 and list(table.columns[:1]) == ["path"] and set(LABELS) <= set(table.columns)
    skipped = catalog.load("prediction_skipped")
    assert skipped["path"].tolist() == [str(folder / "broken.png")]
    assert "not a readable image" in skipped["reason"][0]
    served = TrainedC2SRTPyfunc(trained, ServingLimits(serve_path_root=folder))
    by_path = served.predict(None, table[["path"]], {"labels": LABELS, "top_k": 2})
    np.testing.assert_allclose(table[LABELS].to_numpy(), by_path[LABELS].to_numpy(), rtol=1e-5, atol=1e-6)
    assert table["top_labels"].tolist() == by_path["top_labels"].tolist()
    assert table["tags"].tolist() == by_path["tags"].tolist()
    assert catalog.load("predictions_csv")["top_labels"][0].count(" | ") == 1
    labels = catalog.load("prediction_labels")
    assert labels["policy"].tolist() == ["similarity", "training", "similarity", "training"]
    assert catalog.load("prediction_contact_sheet").axes
    assert catalog.load("prediction_explanations") == {}  # predict.explain is false

    shards = sorted((tmp_path / "cache").rglob("*.parquet"))
    assert len(shards) == 2  # 5 readable images, shards of >= 4 (batches of 2): nothing is encoded twice
    again = _catalog(trained, folder, tmp_path / "cache", LABELS)
    SequentialRunner().run(create_pipeline(), again)
    assert sorted((tmp_path / "cache").rglob("*.parquet")) == shards
    pd.testing.assert_frame_equal(again.load("predictions"), table)


def test_tags_follow_the_models_thresholds_or_predict_threshold(make_trained, image_files, tmp_path) -> None:
    from ovmlr.core.thresholds import LabelThreshold, Thresholds

    fit = LabelThreshold(-1.0, 0.5, 0.5, 0.5, 2)
    trained = make_trained(thresholds=Thresholds("f1", {"cat": fit}, LabelThreshold(1.0, 0.5, 0.5, 0.5, 4)))
    folder = image_files[0].parent
    catalog = _catalog(trained, folder, tmp_path / "cache", LABELS)
    SequentialRunner().run(create_pipeline(), catalog)
    assert catalog.load("predictions")["tags"].tolist() == [["cat"]] * 5  # new names: never over 1.0
    assert catalog.load("predictions_csv")["tags"].tolist() == ["cat"] * 5
    every = _catalog(trained, folder, tmp_path / "cache", LABELS, threshold=-1.0)
    SequentialRunner().run(create_pipeline(), every)
    assert all(sorted(t) == sorted(LABELS) for t in every.load("predictions")["tags"])
    with pytest.raises(Exception, match=r"predict.threshold must be a finite number.*got 'high'"):
        SequentialRunner().run(
            create_pipeline(), _catalog(trained, folder, tmp_path / "cache", LABELS, threshold="high")
        )


def test_predict_explain_writes_a_figure_per_image(trained, image_files, tmp_path) -> None:
    folder = image_files[0].parent
    catalog = _catalog(trained, folder, tmp_path / "cache", LABELS, explain=True)
    SequentialRunner().run(create_pipeline(), catalog)
    figures = catalog.load("prediction_explanations")
    paths = catalog.load("predictions")["path"].head(2).tolist()
    assert list(figures) == [f"{i:04d}_{Path(p).stem}.png" for i, p in enumerate(paths)]
    axes = figures[next(iter(figures))].axes
    assert len(axes) >= 4  # 2 labels x (heat map, neighbours), plus the heat map's colour layer
    titles = [ax.get_title() for ax in axes]
    assert any("neighbours: similarity policy" in t for t in titles) or any("training" in t for t in titles)
    assert any(ax.get_xlabel().startswith("IST attention") for ax in axes)


def test_label_names_from_a_file_a_string_or_a_list(tmp_path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# my labels\nzebra\n\n fire truck \n")
    assert read_label_names(str(path)) == ["zebra", "fire truck"]
    assert read_label_names("zebra,fire truck") == ["zebra", "fire truck"]
    assert read_label_names("zebra|fire truck|kite") == ["zebra", "fire truck", "kite"]
    assert read_label_names(["a", "b"]) == ["a", "b"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no label"):
        read_label_names(str(tmp_path / "empty.txt"))


def test_no_image_and_bad_labels_are_clear_errors(trained, tmp_path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "one.png")
    from kedro.runner import SequentialRunner as Runner

    with pytest.raises(Exception, match="no image file"):
        Runner().run(create_pipeline(), _catalog(trained, tmp_path / "none", tmp_path / "c", LABELS))
    with pytest.raises(Exception, match="duplicates"):
        Runner().run(create_pipeline(), _catalog(trained, tmp_path, tmp_path / "c", ["cat", "CAT"]))


def test_a_skipped_image_is_reported_under_its_own_path_when_the_same_bytes_were_seen_elsewhere(
    trained, tmp_path
) -> None:
    reports = []
    for run in ("first", "second"):  # two folders, one cache: the broken bytes are cached once, by content
        folder = tmp_path / run
        folder.mkdir()
        Image.new("RGB", (8, 8), "red").save(folder / "ok.png")
        (folder / "broken.jpg").write_bytes(b"the same broken bytes")
        catalog = _catalog(trained, folder, tmp_path / "cache", LABELS)
        SequentialRunner().run(create_pipeline(), catalog)
        reports.append(catalog.load("prediction_skipped"))
    first, second = reports
    assert second["path"].tolist() == [str(tmp_path / "second" / "broken.jpg")]
    assert (
        second["reason"].tolist()
        == first["reason"].tolist()
        == ["not a readable image (no known image format)"]
    )


def test_the_pixel_limit_default_is_the_served_models() -> None:
    conf = Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters_predict.yml"
    encoding = yaml.safe_load(conf.read_text())["predict"]["encoding"]
    assert encoding["max_image_pixels"] == ServingLimits().max_image_pixels


@pytest.mark.slow
def test_hostile_images_are_skipped_with_their_reason_or_scored_and_nothing_hangs(trained, tmp_path) -> None:
    from hostile_images import write_hostile_images

    corpus = write_hostile_images(tmp_path / "hostile")
    catalog = _catalog(trained, tmp_path / "hostile", tmp_path / "cache", LABELS)
    faulthandler.dump_traceback_later(300, exit=True)  # a hang ends the test run with a traceback
    try:
        started = time.monotonic()
        SequentialRunner().run(create_pipeline(), catalog)
        elapsed = time.monotonic() - started
    finally:
        faulthandler.cancel_dump_traceback_later()
    skipped = catalog.load("prediction_skipped").set_index("path")["reason"]
    scored = set(catalog.load("predictions")["path"])
    for entry in corpus:
        path = str(tmp_path / "hostile" / entry.name)
        if entry.outcome == "refused":
            assert re.search(entry.reason, skipped[path]), (entry.name, skipped[path])
        else:
            assert path in scored, entry.name
    assert len(skipped) + len(scored) == len(corpus) and elapsed < 60
