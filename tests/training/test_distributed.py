"""DDP training through torchrun: 2 CPU ranks (gloo) equal 1 process with the same global batch; resume;
bad configurations refused before any work."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from deadline import deadline

from ovmlr.core.features import FeatureSplit
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.training.distributed import (
    DistributedConfig,
    check_distributed,
    distributed_fit,
    failed_rank,
    rank_positions,
    read_job,
    write_job,
)
from ovmlr.training.fit import fit, frozen_task
from ovmlr.training.loop import TrainingConfig

D, P, C = 16, 4, 5
EPOCHS_KILLED = 12  # long enough that rank 1 is killed while the run is still training
MODEL = {
    "config": "c2srt_small",
    "overrides": {
        "embed_dim": D,
        "ist.heads": 2,
        "ist.hidden_dim": 16,
        "isr.max_patches": 2,
        "ist.dropout": 0.0,
    },
}


def _world(n_train: int = 64):
    rng = np.random.default_rng(0)
    text = rng.normal(size=(C, D)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    vocab = Vocabulary(
        np.arange(C),
        tuple("abcde"),
        ("seen",) * 3 + ("unseen",) * 2,
        text,
        np.array([[1, 2], [0, 2], [0, 1], [0, 1], [1, 2]]),
    )

    def split(n, columns, seed):
        r = np.random.default_rng(seed)
        labels = (r.random((n, C)) < 0.4).astype(np.int8)
        labels[:, 0] = 1  # every image has a positive and a negative: equal per-rank loss weights
        labels[:, 1] = 0
        g = labels.astype(np.float32) @ text + 0.5 * r.normal(size=(n, D)).astype(np.float32)
        patches = g[:, None, :] + 0.5 * r.normal(size=(n, P, D)).astype(np.float32)
        return FeatureSplit(np.array([f"i{seed}_{i}" for i in range(n)]), g, patches, labels[:, columns])

    cfg = TrainingConfig.from_params(
        {"epochs": 2, "batch_size": 16, "lr": 5e-3, "seed": 3, "ks": [1, 2], "device": "cpu"}
    )
    config = resolve_model_config(MODEL, {"embed_dim": D, "logit_scale": 10.0, "backbone_id": "toy"})
    return vocab, cfg, split(n_train, [0, 1, 2], 1), split(24, list(range(C)), 2), config


def _single(vocab, cfg, train, val, config, resume_from=None):
    head = build_model(config, seed=cfg.seed)
    return list(
        fit(
            frozen_task(head, train, val, cfg),
            val.labels,
            vocab.subset("seen"),
            vocab,
            cfg,
            "run",
            resume_from,
        )
    )


def _distributed(vocab, cfg, train, val, config, tmp_path, port, resume_from=None, lazy=False):  # noqa: PLR0913
    dist = DistributedConfig(
        enabled=True, nproc_per_node=2, master_port=port, job_dir=str(tmp_path / "job"), timeout_s=300
    )
    head = build_model(config, seed=cfg.seed)
    checkpoints = distributed_fit(head, train, val, vocab, cfg, config, "run", dist, resume_from)
    return checkpoints if lazy else list(checkpoints)


def _assert_same_model(a, b, atol):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=atol), key


def test_rank_positions_deal_every_item_once_per_epoch() -> None:
    positions = [rank_positions(10, 2, rank) for rank in range(2)]
    assert positions == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]
    padded = [rank_positions(5, 2, rank) for rank in range(2)]
    assert sorted(padded[0] + padded[1]) == [0, 0, 1, 2, 3, 4]  # DistributedSampler pads by wrapping


def test_job_round_trip(tmp_path) -> None:
    vocab, cfg, train, val, config = _world(16)
    folder = write_job(
        tmp_path, train, val, vocab.subset("seen"), vocab, cfg, config, "r1", DistributedConfig(), None
    )
    job = read_job(folder)
    assert np.array_equal(job.train.patch_feats, train.patch_feats)
    assert job.vocab_all.names == vocab.names and job.cfg == cfg and job.resume_from is None
    with pytest.raises(FileNotFoundError, match="not a training job folder"):
        read_job(tmp_path / "nothing")


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process_and_resume(tmp_path) -> None:
    vocab, cfg, train, val, config = _world(64)
    single = _single(vocab, cfg, train, val, config)
    ddp = _distributed(vocab, cfg, train, val, config, tmp_path / "a", 29511)
    assert [c["epoch"] for c in ddp] == [1, 2]
    _assert_same_model(
        single[-1]["model_state"], ddp[-1]["model_state"], atol=1e-3
    )  # Adam amplifies rounding
    assert ddp[-1]["history"][-1]["train/loss"] == pytest.approx(
        single[-1]["history"][-1]["train/loss"], rel=1e-4
    )
    # resume: epoch 2's checkpoint of a 3-epoch run (same schedule), continued by DDP, equals the
    # uninterrupted run's epoch 3
    longer = dataclasses.replace(cfg, epochs=3)
    uninterrupted = _single(vocab, longer, train, val, config)
    resumed = _distributed(
        vocab, longer, train, val, config, tmp_path / "b", 29512, resume_from=uninterrupted[1]
    )
    assert [c["epoch"] for c in resumed] == [3]
    _assert_same_model(uninterrupted[-1]["model_state"], resumed[-1]["model_state"], 1e-3)
    assert len(resumed[-1]["history"]) == 3


def test_bad_configuration_is_refused_before_any_work() -> None:
    cfg = TrainingConfig.from_params({"batch_size": 10})
    with pytest.raises(ValueError, match=r"batch_size=10 is not divisible by the world size 4"):
        check_distributed(DistributedConfig(enabled=True, nproc_per_node=2, nnodes=2), cfg)
    with pytest.raises(ValueError, match="frozen mode only"):
        check_distributed(DistributedConfig(enabled=True), TrainingConfig.from_params({"mode": "finetune"}))
    with pytest.raises(ValueError, match="backend must be one of"):
        check_distributed(DistributedConfig(enabled=True, backend="mpi"), TrainingConfig())
    with pytest.raises(ValueError, match="node_rank=2 is not in"):
        check_distributed(DistributedConfig(enabled=True, nnodes=2, node_rank=2), TrainingConfig())
    with pytest.raises(ValueError, match=r"unknown training.distributed parameter\(s\)"):
        DistributedConfig.from_params({"world": 2})
    check_distributed(DistributedConfig(enabled=False), cfg)  # off: nothing to check


def test_the_hook_refuses_a_bad_distributed_run_before_the_pipeline_starts() -> None:
    from types import SimpleNamespace

    from kedro.io import DataCatalog, MemoryDataset

    from ovmlr.hooks import ConfigurationChecks

    catalog = DataCatalog(
        datasets={
            "params:training": MemoryDataset(
                {"distributed": {"enabled": True, "nproc_per_node": 3}, "loop": {"batch_size": 64}}
            ),
        }
    )
    pipeline = SimpleNamespace(nodes=[SimpleNamespace(name="training.train_c2srt_node")])
    with pytest.raises(ValueError, match="batch_size=64 is not divisible by the world size 3"):
        ConfigurationChecks().before_pipeline_run({}, pipeline, catalog)
    ConfigurationChecks().before_pipeline_run({}, SimpleNamespace(nodes=[]), catalog)  # no training: no check


def _rank_pid(job_dir, rank: int) -> int:
    """The pid of the DDP worker of ``job_dir`` whose environment says ``RANK=rank`` (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        ours = b"ovmlr.training.ddp_worker" in cmdline and str(job_dir).encode() in cmdline
        if ours and f"RANK={rank}".encode() in environ:
            return int(proc.name)
    raise AssertionError(f"no DDP worker of rank {rank} running for {job_dir}")


@pytest.mark.slow
def test_a_rank_killed_mid_run_fails_the_launch_naming_it_and_resume_finishes_the_same_model(
    tmp_path,
) -> None:
    vocab, cfg, train, val, config = _world(512)
    cfg = dataclasses.replace(cfg, epochs=EPOCHS_KILLED)
    killed_job = tmp_path / "killed" / "job"
    seen = []
    with deadline(240, "the DDP run with a killed rank"), pytest.raises(RuntimeError) as failure:
        for checkpoint in _distributed(vocab, cfg, train, val, config, tmp_path / "killed", 29513, lazy=True):
            seen.append(int(checkpoint["epoch"]))
            if len(seen) == 1:
                os.kill(_rank_pid(killed_job, 1), signal.SIGKILL)
                killed_at = time.monotonic()
    failed_after = time.monotonic() - killed_at
    message = str(failure.value)
    print(f"killed rank 1 after epoch {seen[0]}; launch failed {failed_after:.1f} s later: {message[:400]}")
    assert "rank 1 failed first" in message and "Signal 9 (SIGKILL)" in message
    assert str(killed_job / "torchrun.log") in message and failed_after < 60
    done = sorted(killed_job.glob("checkpoint-*.done"))
    assert done and len(done) < cfg.epochs  # killed mid-run: some epochs written, not all
    last = torch.load(done[-1].with_suffix(".pt"), weights_only=True)
    resumed = list(
        _distributed(vocab, cfg, train, val, config, tmp_path / "resumed", 29514, resume_from=last)
    )
    assert [c["epoch"] for c in resumed] == list(range(int(last["epoch"]) + 1, cfg.epochs + 1))
    uninterrupted = _distributed(vocab, cfg, train, val, config, tmp_path / "whole", 29515)
    _assert_same_model(uninterrupted[-1]["model_state"], resumed[-1]["model_state"], atol=1e-6)
    assert len(resumed[-1]["history"]) == cfg.epochs


def test_failed_rank_reads_torchruns_failure_summary() -> None:
    log = """Traceback ...
Root Cause (first observed failure):
[0]:
  time      : 2026-12-08_01:29:30
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 32123)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 32123
"""
    assert failed_rank(log) == "rank 1 failed first (exit code -9, Signal 9 (SIGKILL) received by PID 32123)"
    python_error = log.replace("-9", "1").replace(
        "Signal 9 (SIGKILL) received by PID 32123", "To enable traceback see: https://pytorch.org/docs"
    )
    assert failed_rank(python_error) == "rank 1 failed first (exit code 1)"
    assert failed_rank("ConnectionError: port in use") == (
        "no failed rank named in the log (the launcher itself failed)"
    )
