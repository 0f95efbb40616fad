"""The MLflow model: raw images and any labels in process, and served over HTTP by ``mlflow models serve``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset, ModelRegistration
from ovmlr.trained.images import encode_file_base64
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
    model = TrainedC2SRTPyfunc(trained)
    by_path = model.predict(None, pd.DataFrame({"path": [str(p) for p in image_files]}), {"labels": LABELS})
    encoded = pd.DataFrame({"image": [encode_file_base64(p) for p in image_files]})
    by_bytes = model.predict(None, encoded, {"labels": LABELS, "top_k": 2})
    np.testing.assert_allclose(by_path[LABELS].to_numpy(), by_bytes[LABELS].to_numpy())
    assert all(len(t) == 2 for t in by_bytes["top_labels"]) and all(
        len(t) == 3 for t in by_path["top_labels"]
    )
    own = model.predict(None, encoded, {})
    assert list(own.columns[:6]) == list(trained.vocabulary.names)


@pytest.mark.parametrize(
    ("frame", "params", "message"),
    [
        (pd.DataFrame({"image": []}), {}, "no rows"),
        (pd.DataFrame({"x": [1]}), {}, "no 'image' or 'path' column"),
        (pd.DataFrame({"image": ["aGVsbG8="]}), {}, "row 0 'image': the bytes are not a readable image"),
        (pd.DataFrame({"path": ["/nonexistent.png"]}), {}, "no such file"),
        (None, {"labels": "cat"}, "must be a list"),
        (None, {"labels": ["cat", "Cat"]}, "duplicates"),
        (None, {"top_k": 0}, "positive integer"),
    ],
)
def test_bad_requests_are_named(trained, image_files, frame, params, message) -> None:
    if frame is None:
        frame = pd.DataFrame({"path": [str(image_files[0])]})
    with pytest.raises(MlflowException, match=message) as info:
        TrainedC2SRTPyfunc(trained).predict(None, frame, params)
    assert info.value.get_http_status_code() == 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict | str]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {process.stdout.read().decode()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("mlflow models serve did not answer /ping")


@pytest.mark.slow
@pytest.mark.integration
def test_the_served_model_answers_over_http_as_in_process(
    trained, image_files, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(tracking)
    MlflowRegisteredModelDataset(model_name="served").save(
        ModelRegistration(trained, "test", "gzsl/mAP", 0.5, description="served")
    )
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "MLFLOW_DISABLE_TELEMETRY": "true"}
    # mlflow starts `uvicorn` from PATH: the venv's bin folder must be on it even when it is not activated
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/served@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        records = [{"image": encode_file_base64(p)} for p in image_files]
        status, body = _post(
            url + "/invocations", {"dataframe_records": records, "params": {"labels": LABELS}}
        )
        assert status == 200, body
        served = pd.DataFrame(body["predictions"])
        expected = TrainedC2SRTPyfunc(trained).predict(None, pd.DataFrame(records), {"labels": LABELS})
        np.testing.assert_allclose(
            served[LABELS].to_numpy(), expected[LABELS].to_numpy(), rtol=1e-5, atol=1e-6
        )
        assert served["top_labels"].tolist() == expected["top_labels"].tolist()
        bad = [
            ({"dataframe_records": [{"image": "aGVsbG8="}]}, "not a readable image"),
            ({"dataframe_records": []}, ""),
            ({"dataframe_records": records[:1], "params": {"labels": "cat"}}, "labels"),
        ]
        for request, message in bad:
            status, text = _post(url + "/invocations", request)
            assert 400 <= status < 500 and message in text, (status, text[:500])
        status, body = _post(url + "/invocations", {"dataframe_records": records[:1]})
        assert status == 200 and len(body["predictions"]) == 1  # still serving, own vocabulary
    finally:
        process.terminate()
        process.wait(timeout=30)
