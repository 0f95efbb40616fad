"""Scale-out on one machine: DDP training and Ray Data extraction against their single-process baselines.

``ddp``: frozen-mode C²SRT training on random features at the tagged-art shape (256 seen categories, P = 64,
D = 256, K = 4; ``--shape nus``: C = 925, P = 196, D = 512, K = 16), one epoch of ``--images`` images,
global batch ``--batch``: one process with all ``--threads`` threads vs ``--ranks`` gloo ranks of
``threads / ranks`` threads each (``training.distributed``), same global batch, through the project's own
code (``fit`` and ``distributed_fit``: job writing, torchrun start and checkpoint hand-over included).

``ray``: feature extraction of ``--images`` random 96 px PNGs with the demo backbone's shape (a random-weight
ViT: 4 layers, width 128, patch 12), local engine with all threads vs the Ray Data engine with ``--ranks``
encoder actors of one thread each (a local Ray instance; its start-up is timed separately).

Ratios are to the single-process baseline measured in the same run. On an N-core machine the ideal is
about 1.0 (the same cores, split); the point is the overhead, and that the same code scales out across GPUs
or machines.

    .venv/bin/python benchmarks/bench_scale.py --task ddp --images 512
    .venv/bin/python benchmarks/bench_scale.py --task ray --images 256
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ovmlr.backbones.precision import describe_machine

SHAPES = {
    "art": {"config": "c2srt_art", "C": 256, "P": 64, "D": 256, "K": 4, "unseen": 28},
    "nus": {"config": "c2srt", "C": 925, "P": 196, "D": 512, "K": 16, "unseen": 81},
}


def _ddp(args: argparse.Namespace) -> dict:
    from ovmlr.core.features import FeatureSplit
    from ovmlr.core.model_factory import build_model, resolve_model_config
    from ovmlr.core.vocabulary import Vocabulary
    from ovmlr.training.distributed import DistributedConfig, distributed_fit
    from ovmlr.training.fit import fit, frozen_task
    from ovmlr.training.loop import TrainingConfig

    s = SHAPES[args.shape]
    rng = np.random.default_rng(0)
    c_all = s["C"] + s["unseen"]
    text = rng.normal(size=(c_all, s["D"])).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    neighbours = np.stack(
        [
            rng.choice(np.delete(np.arange(s["C"]), c) if c < s["C"] else s["C"], s["K"], replace=False)
            for c in range(c_all)
        ]
    )
    vocab = Vocabulary(
        np.arange(c_all),
        tuple(f"c{i}" for i in range(c_all)),
        ("seen",) * s["C"] + ("unseen",) * s["unseen"],
        text,
        neighbours,
    )

    def split(n: int, columns: int) -> FeatureSplit:
        labels = (rng.random((n, c_all)) < 0.03).astype(np.int8)
        labels[:, 0] = 1
        return FeatureSplit(
            np.array([f"i{i}" for i in range(n)]),
            rng.normal(size=(n, s["D"])).astype(np.float32),
            rng.normal(size=(n, s["P"], s["D"])).astype(np.float32),
            labels[:, :columns],
        )

    train, val = split(args.images, s["C"]), split(args.val_images, c_all)
    config = resolve_model_config(
        {"config": s["config"], "overrides": {"ist.dropout": 0.0}},
        {"embed_dim": s["D"], "logit_scale": 14.0, "backbone_id": "bench"},
    )
    cfg = TrainingConfig.from_params({"epochs": 1, "batch_size": args.batch, "device": "cpu", "seed": 0})
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    single = list(
        fit(
            frozen_task(build_model(config, seed=0), train, val, cfg),
            val.labels,
            vocab.subset("seen"),
            vocab,
            cfg,
            "bench",
        )
    )
    single_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        dist = DistributedConfig(
            enabled=True, nproc_per_node=args.ranks, job_dir=f"{tmp}/job", master_port=29531
        )
        import os

        os.environ["OMP_NUM_THREADS"] = str(max(1, args.threads // args.ranks))
        start = time.perf_counter()
        ddp = list(
            distributed_fit(build_model(config, seed=0), train, val, vocab, cfg, config, "bench", dist, None)
        )
        ddp_s = time.perf_counter() - start
    diff = max(
        float((single[-1]["model_state"][k] - ddp[-1]["model_state"][k]).abs().max())
        for k in single[-1]["model_state"]
    )
    return {
        "task": "ddp",
        "shape": args.shape,
        "images": args.images,
        "global_batch": args.batch,
        "ranks": args.ranks,
        "threads": args.threads,
        "single_s": round(single_s, 2),
        "single_images_per_s": round(args.images / single_s, 2),
        "ddp_s": round(ddp_s, 2),
        "ddp_images_per_s": round(args.images / ddp_s, 2),
        "x_single": round(single_s / ddp_s, 3),
        "train_images_per_s_in_epoch": {
            "single": round(single[-1]["history"][-1]["train/images_per_s"], 2),
            "ddp_all_ranks": round(ddp[-1]["history"][-1]["train/images_per_s"], 2),
        },
        "max_abs_weight_difference": diff,
    }


def _ray(args: argparse.Namespace) -> dict:
    from PIL import Image

    from ovmlr.backbones.extraction import encode_images
    from ovmlr.backbones.loading import load_backbone
    from ovmlr.backbones.ray_engine import encode_images_ray
    from ovmlr.backbones.spec import BackboneSpec
    from ovmlr.core.device import resolve_device

    spec = (
        BackboneSpec(
            model_name="ovmlr-bench-demo-shape",
            model_config={
                "embed_dim": 256,
                "vision_cfg": {
                    "image_size": 96,
                    "layers": 4,
                    "width": 128,
                    "head_width": 32,
                    "patch_size": 12,
                },
                "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
            },
            allow_random_weights=True,
        )
        .with_id()
        .to_dict()
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.images):
            path = Path(tmp) / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(path)
            paths.append(str(path))
        todo = pd.DataFrame({"image_key": [f"k{i}" for i in range(args.images)], "path": paths})
        params = {"device": "cpu", "batch_size": 32, "num_workers": 0, "chunk_size": args.chunk}
        torch.set_num_threads(args.threads)
        loaded = load_backbone(BackboneSpec.from_dict(spec), resolve_device("cpu"))
        start = time.perf_counter()
        local = sum(len(c.image_keys) for c in encode_images(loaded, todo, params))
        local_s = time.perf_counter() - start
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=args.ranks, include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup_s = time.perf_counter() - start
        ray_params = params | {
            "engine": "ray",
            "threads_per_worker": max(1, args.threads // args.ranks),
            "ray": {"num_workers": args.ranks},
        }
        start = time.perf_counter()
        remote = sum(len(c.image_keys) for c in encode_images_ray(spec, todo, ray_params))
        ray_s = time.perf_counter() - start
        ray.shutdown()
    assert local == remote == args.images
    return {
        "task": "ray",
        "images": args.images,
        "chunk_size": args.chunk,
        "workers": args.ranks,
        "threads": args.threads,
        "local_images_per_s": round(args.images / local_s, 2),
        "ray_images_per_s": round(args.images / ray_s, 2),
        "x_local": round(local_s / ray_s, 3),
        "ray_startup_s": round(startup_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["ddp", "ray"], required=True)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="art")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--val-images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(describe_machine())
    print(json.dumps(_ddp(args) if args.task == "ddp" else _ray(args), indent=1))


if __name__ == "__main__":
    main()
