"""The GPU check script runs end to end (on CPU, tiny shapes) and writes strict JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    command = [sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--device", "cpu", "--tiny"]
    command += ["--images", "6", "--steps", "1", "--workers", "0", "--batch-size", "3", "--out", str(out)]
    subprocess.run(command, check=True, cwd=tmp_path, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    extraction = report["extraction"]
    assert extraction["decode_bound_images_per_s"] > 0 and extraction["fp32"]["x_fp32"] == 1.0
    assert extraction["bf16"]["images_per_s"] > 0
    assert report["training_step"]["fp32"]["images_per_s"] > 0 and report["predict_images_per_s"] > 0


def test_gpu_check_refuses_a_machine_without_cuda(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0 and "no CUDA device visible" in result.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_load_serving_smoke_run_checks_every_answer_and_the_memory(trained, tmp_path: Path) -> None:
    from ovmlr.trained import save_trained

    folder = save_trained(trained, tmp_path / "model")
    out = tmp_path / "load.json"
    command = [sys.executable, str(ROOT / "benchmarks/load_serving.py"), "--model", str(folder)]
    command += ["--clients", "1", "4", "--requests", "24", "--max-seconds", "60", "--soak-seconds", "10"]
    command += ["--max-growth-mb", "200", "--json", str(out)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=400, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [level["clients"] for level in report["levels"]] == [1, 4] and report["failures"] == []
    assert all(level["requests"] == 24 and level["wrong"] == 0 for level in report["levels"])
    assert report["soak"]["label lists"] > 0 and report["soak"]["non-200"] == 0
    assert "CPU: " in result.stdout and "p99 ms" in result.stdout


@pytest.mark.slow
def test_bench_export_smoke_run_compares_onnxruntime_with_pytorch(trained, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from ovmlr.trained import save_trained

    folder = save_trained(trained, tmp_path / "model")
    out = tmp_path / "export.json"
    command = [sys.executable, str(ROOT / "benchmarks/bench_export.py"), "--model", str(folder)]
    command += ["--batch-sizes", "1", "4", "--repeats", "1", "--json", str(out)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=400, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [row["batch"] for row in report["batches"]] == [1, 4] and report["labels"] == 6
    for row in report["batches"]:
        assert row["max_abs_diff"] < 1e-4 and row["onnxruntime_images_per_s"] > 0
