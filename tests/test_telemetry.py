"""Nothing leaves the machine unasked: the documented commands run with every telemetry switch removed from
the environment, and nothing in them tries to reach another machine.

How it is checked (``tests/support/network_audit.py``): a Python audit hook in every process of the command
records each connection and name lookup before it happens, and where ``unshare -n`` is allowed the command
also runs with no network at all. The commands: ``kedro viz build`` and a one-node ``kedro run`` (kedro-mlflow
starts an MLflow run: MLflow's telemetry would fetch its configuration then) in a copy of the project; the
served model is checked by ``tests/trained/test_serving.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from network_audit import audited_env, offline, outbound_attempts
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def test_the_project_ships_its_telemetry_refusal() -> None:
    assert yaml.safe_load((ROOT / ".telemetry").read_text()) == {"consent": False}
    ignored = subprocess.run(["git", "check-ignore", "-q", ".telemetry"], cwd=ROOT, check=False)
    assert ignored.returncode == 1  # committed, not ignored


def test_the_audit_sees_an_attempt(tmp_path) -> None:
    log = tmp_path / "audit.log"
    probe = (
        "import socket\ntry:\n    socket.getaddrinfo('telemetry.example', 443)\nexcept OSError:\n    pass\n"
    )
    subprocess.run(offline([sys.executable, "-c", probe]), env=audited_env(log), check=True, timeout=60)
    assert [a["host"] for a in outbound_attempts(log)] == ["telemetry.example"]


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path) -> Path:
    """A copy of the project (configuration, sources, ``.telemetry``) to run Kedro commands in."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, project / name)
    ignore = shutil.ignore_patterns("__pycache__", "local")
    shutil.copytree(ROOT / "conf", project / "conf", ignore=ignore)
    (project / "conf" / "local").mkdir()
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return project


def _run_audited(command: list[str], project: Path) -> list[dict[str, str]]:
    log = project / "audit.log"
    result = subprocess.run(
        offline(command),
        cwd=project,
        env=audited_env(log),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return outbound_attempts(log)


@pytest.mark.slow
@pytest.mark.integration
def test_kedro_viz_build_sends_nothing(project) -> None:
    assert _run_audited([KEDRO, "viz", "build"], project) == []
    assert (project / "build" / "index.html").is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_kedro_run_with_mlflow_tracking_sends_nothing(project) -> None:
    (project / "images").mkdir()
    Image.new("RGB", (8, 8)).save(project / "images" / "a.png")
    command = [KEDRO, "run", "--pipeline=predict", "--to-nodes=predict.list_prediction_images_node"]
    command += ["--params", f"predict.images={project / 'images'}"]
    assert _run_audited(command, project) == []
    assert (project / "mlflow.db").is_file()  # kedro-mlflow did start an MLflow run
