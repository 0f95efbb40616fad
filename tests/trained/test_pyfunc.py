"""The MLflow model in process: raw images and any labels, the limits and the path rule (served over HTTP:
``test_serving.py``)."""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from PIL import Image

from ovmlr.core.thresholds import LabelThreshold, Thresholds
from ovmlr.trained.images import encode_file_base64
from ovmlr.trained.limits import PATH_REFUSED, ServingLimits
from ovmlr.trained.pyfunc import TrainedC2SRTPyfunc, model_code_paths, model_requirements, prediction_frame

LABELS = ["cat", "zebra", "fire truck"]


def test_requirements_pin_the_installed_versions_and_code_is_the_package() -> None:
    requirements = dict(r.split("==") for r in model_requirements())
    assert requirements["torch"] == version("torch") and "open_clip_torch" in requirements
    (path,) = model_code_paths()
    assert Path(path).name == "ovmlr" and (Path(path) / "trained" / "mlflow_entry.py").exists()


def test_prediction_frame_has_a_column_per_label_and_the_top_k() -> None:
    frame = prediction_frame(("a", "b", "c"), np.array([[0.1, 0.3, 0.2], [0.5, 0.5, 0.0]]), 2)
    assert list(frame.columns) == ["a", "b", "c", "top_labels", "top_scores"]
    assert frame["top_labels"].tolist() == [["b", "c"], ["a", "b"]]  # ties: the earlier label first
    assert frame["top_scores"][0] == pytest.approx([0.3, 0.2])


def test_in_process_predict_on_paths_and_base64_agree(trained, image_files) -> None:
    model = TrainedC2SRTPyfunc(trained, ServingLimits(serve_path_root=image_files[0].parent))
    by_path = model.predict(None, pd.DataFrame({"path": [str(p) for p in image_files]}), {"labels": LABELS})
    encoded = pd.DataFrame({"image": [encode_file_base64(p) for p in image_files]})
    by_bytes = model.predict(None, encoded, {"labels": LABELS, "top_k": 2})
    np.testing.assert_allclose(by_path[LABELS].to_numpy(), by_bytes[LABELS].to_numpy())
    assert all(len(t) == 2 for t in by_bytes["top_labels"]) and all(
        len(t) == 3 for t in by_path["top_labels"]
    )
    own = model.predict(None, encoded, {})
    assert list(own.columns[:6]) == list(trained.vocabulary.names)
    relative = model.predict(None, pd.DataFrame({"path": ["sub/d.webp"]}), {"labels": LABELS})
    np.testing.assert_allclose(relative[LABELS].to_numpy(), by_path[LABELS].to_numpy()[3:4])


LIMITS = ServingLimits(
    max_rows=4, max_labels=3, max_label_chars=12, max_image_pixels=3000, max_request_bytes=100_000
)


@pytest.mark.parametrize(
    ("rows", "params", "message"),
    [
        ([], {}, "no rows"),
        ([{"x": 1}], {}, "no 'image' or 'path' column"),
        ([{"image": "aGVsbG8="}], {}, "row 0 'image': not a readable image"),
        ([{"path": "/etc/passwd"}], {}, "path input is off"),
        (None, {"labels": "cat"}, "must be a list"),
        (None, {"labels": ["cat", "Cat"]}, "duplicates"),
        (None, {"top_k": 0}, "positive integer"),
        (None, {"threshold": "high"}, r"params 'threshold' must be a finite number.*got 'high'"),
        (None, {"threshold": float("nan")}, r"params 'threshold' must be a finite number.*got nan"),
        (None, {"threshold": True}, r"params 'threshold' must be a finite number.*got True"),
        ("5 images", {}, r"5 images: the limit is 4 \(max_rows\)"),
        (None, {"labels": ["a", "b", "c", "d"]}, r"4 labels: the limit is 3 \(max_labels\)"),
        (None, {"labels": ["a" * 13]}, r"13 characters: the limit is 12 \(max_label_chars\)"),
        ([{"image": "QUFB" * 25_001}], {}, r"100,004 bytes .* the limit is 100,000 \(max_request_bytes\)"),
        ("60 x 60", {}, r"row 0 'image': 60 x 60 = 3,600 pixels: .* limit of 3,000 .*\(max_image_pixels\)"),
    ],
)
def test_bad_requests_and_requests_over_a_limit_get_400_naming_the_problem(
    trained, image_files, tmp_path, rows, params, message
) -> None:
    one = {"image": encode_file_base64(image_files[0])}
    if rows is None:
        rows = [one]
    elif rows == "5 images":
        rows = [one] * 5
    elif rows == "60 x 60":
        Image.new("RGB", (60, 60)).save(tmp_path / "big.png")
        rows = [{"image": encode_file_base64(tmp_path / "big.png")}]
    with pytest.raises(MlflowException, match=message) as info:
        TrainedC2SRTPyfunc(trained, LIMITS).predict(None, pd.DataFrame(rows), params)
    assert info.value.get_http_status_code() == 400


def test_no_path_outside_the_root_is_read_and_the_refusal_says_nothing_of_what_exists(
    trained, image_files, tmp_path
) -> None:
    root = image_files[0].parent
    model = TrainedC2SRTPyfunc(trained, ServingLimits(serve_path_root=root))
    (root / "escape.png").symlink_to(image_files[0])  # inside: allowed
    os.symlink("/etc/passwd", root / "passwd.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "outside.png")
    assert len(model.predict(None, pd.DataFrame({"path": ["escape.png"]}), {})) == 1
    answers = set()
    for path in [
        "../outside.png",
        "../nothing.png",
        str(tmp_path / "outside.png"),
        "/etc/passwd",
        "passwd.png",
    ]:
        # a request cannot widen the rule: params are not the server's configuration
        params = {"serve_path_root": "/", "path_root": "/"}
        with pytest.raises(MlflowException) as info:
            model.predict(None, pd.DataFrame({"path": [path]}), params)
        assert info.value.get_http_status_code() == 400
        answers.add(info.value.message)
    assert answers == {f"row 0 'path': {PATH_REFUSED}"}
    with pytest.raises(MlflowException, match="row 0 'path' 'missing.png': no such file"):
        model.predict(None, pd.DataFrame({"path": ["missing.png"]}), {})  # inside the root: said


def test_the_path_rule_and_limits_come_from_the_serving_machine(trained, image_files, monkeypatch) -> None:
    monkeypatch.setenv("OVMLR_SERVE_PATH_ROOT", str(image_files[0].parent))
    monkeypatch.setenv("OVMLR_MAX_ROWS", "2")
    model = TrainedC2SRTPyfunc(trained)
    assert model.limits.max_rows == 2
    assert len(model.predict(None, pd.DataFrame({"path": ["a.jpg"]}), {})) == 1
    monkeypatch.delenv("OVMLR_SERVE_PATH_ROOT")
    with pytest.raises(MlflowException, match="path input is off"):
        TrainedC2SRTPyfunc(trained).predict(None, pd.DataFrame({"path": ["a.jpg"]}), {})


def test_distinct_label_lists_never_grow_the_cache_past_its_bounds(trained, image_files) -> None:
    limits = ServingLimits(label_cache_entries=5, label_cache_bytes=10**9)
    model = TrainedC2SRTPyfunc(trained, limits)
    rows = pd.DataFrame({"image": [encode_file_base64(image_files[0])]})
    for i in range(40):  # new names: each list costs the text tower
        model.predict(None, rows, {"labels": [f"thing {i}", "cat"]})
    assert len(model._label_sets) == 5
    one = model._label_sets.nbytes // 5
    tight = TrainedC2SRTPyfunc(trained, ServingLimits(label_cache_entries=100, label_cache_bytes=3 * one))
    for i in range(40):
        tight.predict(None, rows, {"labels": [f"thing {i}", "cat"]})
    assert len(tight._label_sets) <= 3 and tight._label_sets.nbytes <= 3 * one


def _thresholds(cat: float, new: float | None) -> Thresholds:
    fit = LabelThreshold(cat, 0.5, 0.5, 0.5, 2)
    return Thresholds("f1", {"cat": fit}, None if new is None else LabelThreshold(new, 0.5, 0.5, 0.5, 4))


def test_tags_are_the_labels_over_their_calibrated_threshold_or_the_requests(
    make_trained, image_files
) -> None:
    rows = pd.DataFrame({"image": [encode_file_base64(p) for p in image_files]})
    calibrated = make_trained(thresholds=_thresholds(cat=-1.0, new=1.0))  # cat: always; others: never
    out = TrainedC2SRTPyfunc(calibrated).predict(None, rows, {"labels": LABELS})
    assert list(out.columns) == [*LABELS, "top_labels", "top_scores", "tags"]
    assert out["tags"].tolist() == [["cat"]] * len(rows)
    cut = float(np.median(out[LABELS].to_numpy()))
    override = TrainedC2SRTPyfunc(calibrated).predict(None, rows, {"labels": LABELS, "threshold": cut})
    for (_, row), tags in zip(out.iterrows(), override["tags"], strict=True):
        expected = sorted((n for n in LABELS if row[n] >= cut), key=lambda n: -row[n])
        assert tags == expected
    # a model saved before calibration: no tag unless the request gives a threshold
    uncalibrated = TrainedC2SRTPyfunc(make_trained()).predict(None, rows, {"labels": LABELS})
    assert uncalibrated["tags"].tolist() == [[]] * len(rows)
