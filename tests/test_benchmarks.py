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
