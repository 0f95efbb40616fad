"""The registered model served over HTTP by ``mlflow models serve`` on 127.0.0.1, as a user starts it: answers
equal to in-process, every bad request and every request over a limit a 400 naming the problem, no file
outside the allowed folder, the hostile image corpus refused or scored, the server still up after all of it,
and nothing sent outside the machine (the server runs with every telemetry switch unset, under the network
audit of ``tests/support/network_audit.py``)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow_isolation import mlflow_store
from network_audit import audit_events, audited_env, outbound_attempts
from PIL import Image

from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset, ModelRegistration
from ovmlr.trained.images import encode_file_base64
from ovmlr.trained.limits import PATH_REFUSED, ServingLimits
from ovmlr.trained.local_server import LocalServer
from ovmlr.trained.pyfunc import TrainedC2SRTPyfunc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))  # hostile_images.py

from hostile_images import write_hostile_images  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]
LABELS = ["cat", "zebra", "fire truck"]
SETTINGS = {  # the serving machine's configuration: small limits, so that each is cheap to reach
    "OVMLR_MAX_ROWS": "8",
    "OVMLR_MAX_LABELS": "4",
    "OVMLR_MAX_LABEL_CHARS": "20",
    "OVMLR_MAX_IMAGE_PIXELS": "1000000",
    "OVMLR_MAX_REQUEST_BYTES": "400000",
}


@pytest.fixture(name="server", scope="module")
def server_fixture(trained, tmp_path_factory):
    """The tiny model registered as ``served@champion`` and served, path input allowed under ``allowed/``."""
    root = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(0)
    (root / "allowed").mkdir()
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(root / "allowed" / name)
    Image.new("RGB", (8, 8)).save(root / "secret.png")
    tracking = f"sqlite:///{root}/mlflow.db"
    with mlflow_store(tracking):  # module-scoped: set up before the per-test isolation
        MlflowRegisteredModelDataset(model_name="served").save(
            ModelRegistration(trained, "test", "gzsl/mAP", 0.5, description="served")
        )
    env = audited_env(root / "audit.log") | SETTINGS
    env |= {"MLFLOW_TRACKING_URI": tracking, "OVMLR_SERVE_PATH_ROOT": str(root / "allowed")}
    with LocalServer("models:/served@champion", env=env) as server:
        server.root = root
        yield server


def _images(server) -> list[dict[str, str]]:
    return [{"image": encode_file_base64(p)} for p in sorted((server.root / "allowed").iterdir())]


def test_the_served_model_answers_as_in_process(server, trained) -> None:
    records = _images(server) + [{"path": "a.png"}, {"path": str(server.root / "allowed" / "b.jpg")}]
    status, body = server.post({"dataframe_records": records, "params": {"labels": LABELS}})
    assert status == 200, body
    served = pd.DataFrame(body["predictions"])
    limits = ServingLimits.from_env(SETTINGS | {"OVMLR_SERVE_PATH_ROOT": str(server.root / "allowed")})
    expected = TrainedC2SRTPyfunc(trained, limits).predict(None, pd.DataFrame(records), {"labels": LABELS})
    np.testing.assert_allclose(served[LABELS].to_numpy(), expected[LABELS].to_numpy(), rtol=1e-5, atol=1e-6)
    assert served["top_labels"].tolist() == expected["top_labels"].tolist()
    np.testing.assert_allclose(served[LABELS].to_numpy()[:2], served[LABELS].to_numpy()[2:])  # path = bytes
    cut = float(np.median(expected[LABELS].to_numpy()))  # a request's threshold: tags beside the scores
    status, body = server.post({"dataframe_records": records, "params": {"labels": LABELS, "threshold": cut}})
    tagged = TrainedC2SRTPyfunc(trained, limits).predict(
        None, pd.DataFrame(records), {"labels": LABELS, "threshold": cut}
    )
    assert status == 200 and pd.DataFrame(body["predictions"])["tags"].tolist() == tagged["tags"].tolist()
    assert any(tagged["tags"]) and not all(len(t) == len(LABELS) for t in tagged["tags"])
    status, body = server.post({"dataframe_records": records[:1]})
    assert status == 200 and len(body["predictions"]) == 1  # own vocabulary


def _big_image() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (1100, 1000)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("records", "params", "message"),
    [
        ([{"image": "aGVsbG8="}], {}, "row 0 'image': not a readable image (no known image format)"),
        ([], {}, ""),
        (None, {"labels": "cat"}, "labels"),
        ("9 rows", {}, "9 images: the limit is 8 (max_rows)"),
        (None, {"labels": ["a", "b", "c", "d", "e"]}, "5 labels: the limit is 4 (max_labels)"),
        (None, {"labels": ["x" * 21]}, "21 characters: the limit is 20 (max_label_chars)"),
        ([{"image": "QUFB" * 100_001}], {}, "the limit is 400,000 (max_request_bytes)"),
        ("big", {}, "1,100,000 pixels: more than the limit of 1,000,000 decoded pixels per image"),
        ([{"path": "../secret.png"}], {}, PATH_REFUSED),
        ([{"path": "../no-such-file.png"}], {}, PATH_REFUSED),
        ([{"path": "/etc/passwd"}], {"serve_path_root": "/"}, PATH_REFUSED),
        ([{"path": "missing.png"}], {}, "row 0 'path' 'missing.png': no such file"),
        (None, {"threshold": "high"}, "threshold"),
    ],
)
def test_bad_requests_get_400_naming_the_problem_and_the_server_stays_up(
    server, records, params, message
) -> None:
    one = _images(server)[:1]
    if records is None or isinstance(records, str):
        records = {None: one, "9 rows": one * 9, "big": [{"image": _big_image()}]}[records]
    status, text = server.post({"dataframe_records": records, "params": params})
    assert status == 400 and message in text, (status, str(text)[-500:])
    assert server.alive()


def test_outside_the_root_an_existing_file_and_a_missing_one_get_the_same_answer(server) -> None:
    answers = set()
    for path in ("../secret.png", "../nothing.png", str(server.root / "secret.png"), "/no/such/file"):
        status, text = server.post({"dataframe_records": [{"path": path}]})
        answers.add((status, json.loads(text)["message"].split("Error: ", 1)[1]))  # MLflow echoes the input
    assert answers == {(400, f"row 0 'path': {PATH_REFUSED}")}


def test_hostile_images_are_refused_with_their_reason_or_scored(server, tmp_path) -> None:
    for entry in write_hostile_images(tmp_path):
        image = base64.b64encode((tmp_path / entry.name).read_bytes()).decode()
        started = time.monotonic()
        status, body = server.post({"dataframe_records": [{"image": image}]}, timeout_s=30)
        assert time.monotonic() - started < 30, entry.name
        if entry.outcome == "refused":
            assert status == 400 and re.search(entry.reason, body), (entry.name, body[-300:])
        else:
            assert status == 200 and len(body["predictions"]) == 1, (entry.name, body)
    assert server.alive()


def test_the_server_sends_nothing_outside_the_machine(server) -> None:
    assert server.post({"dataframe_records": _images(server)})[0] == 200
    log = server.root / "audit.log"
    audited = " ".join(" ".join(e["argv"]) for e in audit_events(log) if e["event"] == "start")
    assert "models serve" in audited and "uvicorn" in audited  # the audit ran in both server processes
    assert outbound_attempts(log) == []
    assert not {"MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"} & set(server.env)
    assert os.environ.get("PYTEST_CURRENT_TEST") and "PYTEST_CURRENT_TEST" not in server.env
