"""One DDP rank of a training job: ``torchrun … -m ovmlr.training.ddp_worker <job_dir>``.

Reads the job (:func:`ovmlr.training.distributed.read_job`), joins the process group (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``… from torchrun), trains the head wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` with :func:`ovmlr.training.fit.fit` on its share of every
global batch, and on rank 0 alone writes each epoch's checkpoint (``checkpoint-NNNN.pt``, then a ``.done``
marker) into the job folder. Training losses are averaged over the ranks before they are recorded.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel

from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.model_factory import build_model
from ovmlr.core.scoring import predict_scores
from ovmlr.training.distributed import Job, checkpoint_path, rank_positions, read_job, resolve_backend
from ovmlr.training.fit import TrainingTask, fit, frozen_loss

logger = logging.getLogger("ovmlr.training.ddp_worker")


def rank_batches(split: FeatureSplit, global_batch: int, world_size: int, rank: int, device: torch.device):
    """``batches(order)``: this rank's ``global_batch / world_size`` items of every global batch."""
    local = global_batch // world_size

    def batches(order: torch.Tensor) -> Iterator[dict[str, torch.Tensor]]:
        mine = order[rank_positions(len(order), world_size, rank)]
        for start in range(0, len(mine), local):
            idx = np.sort(mine[start : start + local].numpy())
            yield {
                "global": torch.from_numpy(np.ascontiguousarray(split.global_feats[idx])).to(device),
                "patches": torch.from_numpy(np.ascontiguousarray(split.patch_feats[idx])).to(device),
                "labels": torch.from_numpy(np.ascontiguousarray(split.labels[idx])).to(device),
            }

    return batches


def run(job: Job, rank: int, world_size: int) -> None:
    """Train the job on this rank; rank 0 writes the checkpoints."""
    device = resolve_device(job.cfg.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    torch_dist.init_process_group(resolve_backend(job.dist.backend, device), rank=rank, world_size=world_size)
    try:
        head = build_model(job.model_config, seed=job.cfg.seed)
        if job.initial_state is not None:
            head.load_state_dict(job.initial_state)
        head = head.to(device)
        wrapped = DistributedDataParallel(head, device_ids=[device.index] if device.type == "cuda" else None)

        def loss(_module, batch, text, neighbours):
            value, parts = frozen_loss(wrapped, batch, text, neighbours)
            averaged = torch.tensor([parts[k] for k in sorted(parts)], dtype=torch.float64)
            torch_dist.all_reduce(averaged)
            return value, dict(zip(sorted(parts), (averaged / world_size).tolist(), strict=True))

        val = job.val

        def val_scores(module, vocabulary):
            return predict_scores(
                module,
                np.asarray(val.global_feats),
                np.asarray(val.patch_feats),
                vocabulary,
                job.cfg.eval_batch_size,
                device,
            )

        task = TrainingTask(
            head,
            rank_batches(job.train, job.cfg.batch_size, world_size, rank, device),
            loss,
            len(job.train),
            val_scores,
        )
        config = job.cfg
        for checkpoint in fit(
            task, np.asarray(val.labels), job.vocab_seen, job.vocab_all, config, job.run_id, job.resume_from
        ):
            if rank == 0:
                last = checkpoint["history"][-1]  # the same dict as fit's own history: adjusted once
                last["train/images_per_s"] = last["train/images_per_s"] * world_size  # all ranks together
                path = checkpoint_path(job.folder, int(checkpoint["epoch"]))
                torch.save(checkpoint, path)
                path.with_suffix(".done").touch()
            torch_dist.barrier()
    finally:
        torch_dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """Entry of ``python -m ovmlr.training.ddp_worker <job_dir>`` under torchrun."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: torchrun ... -m ovmlr.training.ddp_worker <job_dir>", file=sys.stderr)
        return 2
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING, format=f"[rank {rank}] %(message)s"
    )
    run(read_job(args[0]), rank, world_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
