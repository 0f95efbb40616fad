"""Data-parallel training with torch DDP, launched through ``torchrun`` from one Kedro node.

Kedro must not run its nodes once per rank, so ranks never run Kedro. The training node (rank-less, in the
Kedro process) writes a *job* — the training and validation splits as ``.npy`` files (memory-mapped by the
ranks), the vocabulary, the configurations and the checkpoint to resume from — into
``training.distributed.job_dir``, launches ``torchrun --nproc_per_node N -m ovmlr.training.ddp_worker
<job_dir>``, and yields the checkpoints rank 0 writes there as they appear, so the catalog saves them and
MLflow logs them exactly once, as for a single-process run. Multi-node: the same job folder on shared
storage, and on every other node ``torchrun --nnodes M --node_rank k --master_addr … --master_port …
--nproc_per_node N -m ovmlr.training.ddp_worker <job_dir>``.

Equivalence with one process (what the test checks): every step sees the same *global* batch of
``batch_size`` images. The epoch's order is the single-process one (``randperm`` seeded by
:func:`~ovmlr.training.loop.epoch_seed`); :class:`torch.utils.data.DistributedSampler` (``shuffle=False``, it
pads by wrapping) deals its positions to the ranks, each rank takes ``batch_size / world_size`` consecutive
items of its share per step, and DDP averages the gradients. The ranking loss is a mean over each rank's
images, so the averaged gradient equals the single-process one up to how images with a valid pair fall on
the ranks, and up to float summation order. Frozen mode only (cached features): fine-tuning would shard the
image decoding too, which is not built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from ovmlr.core.features import FeatureSplit
from ovmlr.core.params import known_fields
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.training.loop import TrainingConfig, config_dict

BACKENDS = ("auto", "gloo", "nccl")
_SPLIT_ARRAYS = ("image_ids", "global_feats", "patch_feats", "labels")
_VOCAB_ARRAYS = ("category_ids", "text", "neighbours")


@dataclass(frozen=True)
class DistributedConfig:
    """``training.distributed``: off by default; the torchrun flags when on."""

    enabled: bool = False
    nproc_per_node: int = 2
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    backend: str = "auto"  # auto: nccl on CUDA, gloo on CPU
    job_dir: str = "data/05_model_input/ddp_job"
    timeout_s: int = 86_400  # the whole torchrun run

    @property
    def world_size(self) -> int:
        """Processes in all."""
        return self.nproc_per_node * self.nnodes

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> DistributedConfig:
        """Build from ``training.distributed``; unknown keys are an error naming them."""
        return cls(**known_fields(params, cls.__dataclass_fields__, "training.distributed"))


def check_distributed(dist: DistributedConfig, loop: TrainingConfig) -> None:
    """Refuse a configuration DDP cannot run, before any work starts (each error names the parameter)."""
    if not dist.enabled:
        return
    if dist.nproc_per_node < 1 or dist.nnodes < 1:
        raise ValueError(
            "training.distributed.nproc_per_node and nnodes must be >= 1, "
            f"got {dist.nproc_per_node}, {dist.nnodes}"
        )
    if not 0 <= dist.node_rank < dist.nnodes:
        raise ValueError(
            f"training.distributed.node_rank={dist.node_rank} is not in [0, nnodes={dist.nnodes})"
        )
    if dist.backend not in BACKENDS:
        raise ValueError(f"training.distributed.backend must be one of {BACKENDS}, got {dist.backend!r}")
    if loop.batch_size % dist.world_size:
        raise ValueError(
            f"training.loop.batch_size={loop.batch_size} is not divisible by the world size "
            f"{dist.world_size} (nproc_per_node={dist.nproc_per_node} x nnodes={dist.nnodes}): every rank "
            "must take the same share of each global batch"
        )
    if loop.mode != "frozen":
        raise ValueError(
            "training.distributed runs frozen mode only (cached features): fine-tuning would shard the "
            "image decoding too; set training.loop.mode=frozen or training.distributed.enabled=false"
        )
    if dist.backend == "nccl" and not torch.cuda.is_available():
        raise ValueError("training.distributed.backend=nccl needs CUDA GPUs; use gloo (or auto) on CPU")


def resolve_backend(backend: str, device: torch.device) -> str:
    """``auto`` → NCCL on CUDA, gloo otherwise."""
    if backend != "auto":
        return backend
    return "nccl" if device.type == "cuda" else "gloo"


def rank_positions(n_items: int, world_size: int, rank: int) -> list[int]:
    """Positions in the epoch's order that ``rank`` trains on: DistributedSampler's interleaving (padded)."""
    sampler = DistributedSampler(range(n_items), num_replicas=world_size, rank=rank, shuffle=False)
    return list(iter(sampler))


# --- the job folder ---


def _save_arrays(folder: Path, prefix: str, values: dict[str, np.ndarray]) -> None:
    for name, value in values.items():
        array = np.asarray(value)
        np.save(folder / f"{prefix}.{name}.npy", array.astype(str) if array.dtype == object else array)


def _load_arrays(folder: Path, prefix: str, names: tuple[str, ...], mmap: bool) -> dict[str, np.ndarray]:
    """The arrays of one prefix; ``mmap``: memory-mapped read-only (features), else read into memory."""
    return {name: np.load(folder / f"{prefix}.{name}.npy", mmap_mode="r" if mmap else None) for name in names}


def write_job(  # noqa: PLR0913 - the job is everything a rank needs
    folder: str | Path,
    train: FeatureSplit,
    val: FeatureSplit,
    vocab_seen: Vocabulary,
    vocab_all: Vocabulary,
    cfg: TrainingConfig,
    model_config: dict[str, Any],
    run_id: str,
    dist: DistributedConfig,
    resume_from: dict[str, Any] | None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a job folder (replacing an older job there) and return it.

    ``initial_state``: the head's state before training (e.g. with PICO's fitted weights), loaded by every
    rank into the head it builds.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    for prefix, split in (("train", train), ("val", val)):
        _save_arrays(folder, prefix, {name: getattr(split, name) for name in _SPLIT_ARRAYS})
    for prefix, vocab in (("vocab_seen", vocab_seen), ("vocab_all", vocab_all)):
        _save_arrays(folder, prefix, {name: getattr(vocab, name) for name in _VOCAB_ARRAYS})
    if resume_from is not None:
        torch.save(resume_from, folder / "resume.pt")
    if initial_state is not None:
        torch.save(initial_state, folder / "initial.pt")
    meta = {
        "cfg": config_dict(cfg),
        "model_config": model_config,
        "run_id": run_id,
        "distributed": asdict(dist),
        "vocab_seen": {"names": list(vocab_seen.names), "roles": list(vocab_seen.roles)},
        "vocab_all": {"names": list(vocab_all.names), "roles": list(vocab_all.roles)},
    }
    (folder / "job.json").write_text(json.dumps(meta, default=list), encoding="utf-8")
    return folder


@dataclass
class Job:
    """A job folder read back by a rank."""

    train: FeatureSplit
    val: FeatureSplit
    vocab_seen: Vocabulary
    vocab_all: Vocabulary
    cfg: TrainingConfig
    model_config: dict[str, Any]
    run_id: str
    dist: DistributedConfig
    resume_from: dict[str, Any] | None
    initial_state: dict[str, torch.Tensor] | None
    folder: Path


def read_job(folder: str | Path) -> Job:
    """Read what :func:`write_job` wrote (features memory-mapped)."""
    folder = Path(folder)
    meta_path = folder / "job.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} does not exist: not a training job folder")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    splits = {p: FeatureSplit(**_load_arrays(folder, p, _SPLIT_ARRAYS, mmap=True)) for p in ("train", "val")}
    vocabs = {
        p: Vocabulary(
            names=tuple(meta[p]["names"]),
            roles=tuple(meta[p]["roles"]),
            **_load_arrays(folder, p, _VOCAB_ARRAYS, mmap=False),
        )
        for p in ("vocab_seen", "vocab_all")
    }
    resume, initial = folder / "resume.pt", folder / "initial.pt"
    return Job(
        train=splits["train"],
        val=splits["val"],
        vocab_seen=vocabs["vocab_seen"],
        vocab_all=vocabs["vocab_all"],
        cfg=TrainingConfig.from_params(meta["cfg"]),
        model_config=meta["model_config"],
        run_id=meta["run_id"],
        dist=DistributedConfig(**meta["distributed"]),
        resume_from=torch.load(resume, weights_only=True) if resume.is_file() else None,
        initial_state=torch.load(initial, weights_only=True) if initial.is_file() else None,
        folder=folder,
    )


def checkpoint_path(folder: Path, epoch: int) -> Path:
    """Where rank 0 writes the checkpoint of ``epoch``."""
    return folder / f"checkpoint-{epoch:04d}.pt"


def torchrun_command(folder: Path, dist: DistributedConfig) -> list[str]:
    """The ``torchrun`` command line (``python -m torch.distributed.run``) of this node's ranks."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={dist.nproc_per_node}",
        f"--nnodes={dist.nnodes}",
        f"--node_rank={dist.node_rank}",
        f"--master_addr={dist.master_addr}",
        f"--master_port={dist.master_port}",
        "-m",
        "ovmlr.training.ddp_worker",
        str(folder),
    ]


def failed_rank(log_text: str) -> str:
    """The rank torchrun's failure summary names as the first to fail, its exit code and signal, in words."""
    summary = log_text.rpartition("Root Cause (first observed failure):")[2]
    rank = re.search(r"^\s*rank\s*:\s*(\d+)", summary, re.MULTILINE)
    if not summary or rank is None:
        return "no failed rank named in the log (the launcher itself failed)"
    code = re.search(r"^\s*exitcode\s*:\s*(-?\d+)", summary, re.MULTILINE)
    cause = re.search(r"^\s*traceback\s*:\s*(.+)$", summary, re.MULTILINE)
    details = ", ".join(
        part
        for part in (
            f"exit code {code.group(1)}" if code else "",
            cause.group(1).strip() if cause and "To enable traceback" not in cause.group(1) else "",
        )
        if part
    )
    return (
        f"rank {rank.group(1)} failed first ({details})" if details else f"rank {rank.group(1)} failed first"
    )


def launch(
    folder: Path, dist: DistributedConfig, first_epoch: int, last_epoch: int
) -> Iterator[dict[str, Any]]:
    """Run torchrun on the job and yield rank 0's checkpoints, epoch by epoch, as they are written.

    Raises:
        RuntimeError: torchrun failed (its exit code and the tail of its log) or ran past ``timeout_s``.
    """
    log_path = folder / "torchrun.log"
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            torchrun_command(folder, dist), stdout=log, stderr=subprocess.STDOUT, env=env
        )  # noqa: S603
        epoch = first_epoch
        while epoch <= last_epoch:
            path = checkpoint_path(folder, epoch)
            if path.is_file() and (path.with_suffix(".done")).is_file():
                yield torch.load(path, weights_only=True)
                epoch += 1
                continue
            code = process.poll()
            if code is not None and not path.with_suffix(".done").is_file():
                text = log_path.read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(
                    f"torchrun exited with code {code} before epoch {epoch}: {failed_rank(text)}. "
                    f"Full log: {log_path}; rerun with training.loop.resume=true to continue from the last "
                    f"checkpoint. Log tail:\n{text[-3000:]}"
                )
            if time.monotonic() - started > dist.timeout_s:
                process.kill()
                raise RuntimeError(f"torchrun ran past training.distributed.timeout_s={dist.timeout_s}")
            time.sleep(0.2)
        process.wait()


def distributed_fit(  # noqa: PLR0913 - the single-process fit's inputs, plus the launch settings
    head: torch.nn.Module,
    train: FeatureSplit,
    val: FeatureSplit,
    vocab_all: Vocabulary,
    cfg: TrainingConfig,
    model_config: dict[str, Any],
    run_id: str,
    dist: DistributedConfig,
    resume_from: dict[str, Any] | None,
) -> Iterator[dict[str, Any]]:
    """:func:`ovmlr.training.fit.fit`'s checkpoints, trained by ``world_size`` DDP ranks (see the module)."""
    check_distributed(dist, cfg)
    folder = write_job(
        dist.job_dir,
        train,
        val,
        vocab_all.subset("seen"),
        vocab_all,
        cfg,
        model_config,
        run_id,
        dist,
        resume_from,
        {k: v.detach().cpu() for k, v in head.state_dict().items()},
    )
    first = int(resume_from["epoch"]) + 1 if resume_from is not None else 1
    yield from launch(folder, dist, first, cfg.epochs)
