"""A training run SIGKILLed after its first epoch checkpoint (a real kill of a subprocess that runs the
training pipeline on the in-memory catalog of ``test_pipeline.py``, checkpoints on disk) resumes with
``training.loop.resume: true`` and ends with the same trained head as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

EPOCHS = 40  # long enough that the kill lands while the selection run is still training
RUNNER = """
import importlib.util, sys, torch
from pathlib import Path
torch.set_num_threads(1)
spec = importlib.util.spec_from_file_location("training_slice", sys.argv[1])
slice_ = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slice_)
folder, epochs, resume = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "resume"
params = slice_.PARAMS | {"loop": slice_.PARAMS["loop"] | {"epochs": epochs, "resume": resume}}
trained = slice_._run(folder, slice_._inputs(folder) | {"params:training": params}).load("c2srt_trained")
torch.save({"epoch": trained.info["epoch"], "head": trained.head_state}, folder / "trained_head.pt")
"""


def _start(folder: Path, resume: bool) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "run_training.py"
    script.write_text(RUNNER, encoding="utf-8")
    slice_file = Path(__file__).with_name("test_pipeline.py")
    args = [str(slice_file), str(folder), str(EPOCHS), "resume" if resume else "fresh"]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    log = (folder / f"run_{'resume' if resume else 'fresh'}.log").open("w", encoding="utf-8")
    return subprocess.Popen(  # noqa: S603 - this interpreter, a script the test wrote
        [sys.executable, str(script), *args], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _log(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8")[-3000:] for p in sorted(folder.glob("run_*.log")))


def _finish(process: subprocess.Popen, folder: Path) -> dict:
    process.wait(timeout=300)
    assert process.returncode == 0, _log(folder)
    return torch.load(folder / "trained_head.pt", weights_only=True)


@pytest.mark.slow
def test_a_training_run_killed_after_its_first_checkpoint_resumes_to_the_same_head(tmp_path) -> None:
    whole = _finish(_start(tmp_path / "whole", resume=False), tmp_path / "whole")
    folder = tmp_path / "killed"
    process = _start(folder, resume=False)
    deadline = time.monotonic() + 240
    while not list((folder / "checkpoints").glob("*/epoch_0001.pt")):
        assert process.poll() is None, f"the run ended before its first checkpoint: {_log(folder)}"
        assert time.monotonic() < deadline, "no first checkpoint within 240 s"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    written = sorted(p.name for p in (folder / "checkpoints").glob("*/epoch_*.pt"))
    print(f"killed with {len(written)} epoch checkpoint(s) on disk (of {EPOCHS} per run): {written[-1]}")
    assert 1 <= len(written) < EPOCHS and not (folder / "trained_head.pt").exists()
    started = time.monotonic()
    resumed = _finish(_start(folder, resume=True), folder)
    print(f"resumed run: {time.monotonic() - started:.1f} s")
    assert resumed["epoch"] == whole["epoch"]
    assert resumed["head"].keys() == whole["head"].keys()
    for key, value in whole["head"].items():
        torch.testing.assert_close(resumed["head"][key], value, rtol=0, atol=1e-6, msg=key)
