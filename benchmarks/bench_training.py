"""Training throughput (images/s) and peak memory of frozen-mode C²SRT training steps.

Random features at three shapes: the default tagged-art data (248 seen categories, P=64, D=256, K=8), the
Fashion-MNIST environment (C=7 seen, P=49, D=128, K=3) and NUS-WIDE
(C=1006 categories of which 925 seen are trained, P=196, D=512, K=16), batch 64, for the lean (default),
dense and PyG IST, in float32 and under bf16 autocast (``training.loop.precision``). Each configuration runs
in its own subprocess so that its peak resident memory is its own. Ratios are to the first configuration of
the same shape (today's dense fp32 IST) measured in the same run, in wall time and in the process's CPU time
(the figure to trust on a shared, loaded machine).

    .venv/bin/python benchmarks/bench_training.py                 # every configuration
    .venv/bin/python benchmarks/bench_training.py --shape nus --ist dense --batches 3 --precision bf16
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from ovmlr.backbones.precision import describe_machine
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.models import ranking_loss
from ovmlr.training.loop import precision_autocast

SHAPES = {
    "fmnist": {"config": "c2srt_small", "C": 7, "P": 49, "D": 128, "K": 3, "logit_scale": 14.0},
    "art": {"config": "c2srt_art", "C": 248, "P": 64, "D": 256, "K": 8, "logit_scale": 14.0},
    "nus": {"config": "c2srt", "C": 925, "P": 196, "D": 512, "K": 16, "logit_scale": 100.0},
}


def measure(
    shape: str, ist: str, batches: int, batch_size: int, chunk: int | None, precision: str = "fp32"
) -> dict[str, float]:
    """Run ``batches`` training steps after one warm-up step; return images/s and peak RSS."""
    s = SHAPES[shape]
    overrides = {"ist.implementation": ist}
    if chunk:
        overrides["ist.chunk_size"] = chunk
    config = resolve_model_config(
        {"config": s["config"], "overrides": overrides},
        {"embed_dim": s["D"], "logit_scale": s["logit_scale"], "backbone_id": "random"},
    )
    model = build_model(config, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-3)
    rng = np.random.default_rng(0)
    text = torch.nn.functional.normalize(torch.randn(s["C"], s["D"]), dim=-1)
    neighbours = torch.from_numpy(
        np.stack([rng.choice(np.delete(np.arange(s["C"]), c), s["K"], replace=False) for c in range(s["C"])])
    )

    def step() -> None:
        g = torch.randn(batch_size, s["D"])
        p = torch.randn(batch_size, s["P"], s["D"])
        labels = torch.from_numpy((rng.random((batch_size, s["C"])) < 0.02).astype(np.int8))
        labels[:, 0] = 1
        with precision_autocast(precision, torch.device("cpu")):
            loss = ranking_loss(model(g, p, text, neighbours)["logits"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(batches):
        step()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "images_per_s": batches * batch_size / elapsed,
        "cpu_images_per_s": batches * batch_size / cpu,
        "s_per_batch": elapsed / batches,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES))
    parser.add_argument("--ist", choices=["lean", "dense", "pyg"])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["art", "nus"])
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=None, help="ist.chunk_size (dense only)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    print(describe_machine())
    torch.set_num_threads(args.threads)
    if args.shape and args.ist:
        batches = args.batches or (2 if args.shape == "nus" else 20)
        result = measure(args.shape, args.ist, batches, args.batch_size, args.chunk_size, args.precision)
        print(json.dumps(result))
        return
    header = f"{'shape':6} {'IST':6} {'chunk':>6} {'precision':>9} {'images/s':>10} {'s/batch':>9}"
    print(f"{header} {'peak RSS GB':>12} {'x base':>7} {'x base CPU':>10}")
    baseline: dict[str, dict] = {}
    runs = [
        ("art", "dense", None, "fp32"),
        ("art", "lean", None, "fp32"),
        ("art", "lean", None, "bf16"),
        ("art", "pyg", None, "fp32"),
        ("nus", "dense", 128, "fp32"),
        ("nus", "lean", None, "fp32"),
        ("nus", "lean", None, "bf16"),
        ("nus", "pyg", None, "fp32"),
    ]
    for shape, ist, chunk, precision in [run for run in runs if run[0] in args.shapes]:
        command = [
            sys.executable,
            __file__,
            "--shape",
            shape,
            "--ist",
            ist,
            "--threads",
            str(args.threads),
            "--batch-size",
            str(args.batch_size),
            "--precision",
            precision,
        ]
        if chunk:
            command += ["--chunk-size", str(chunk)]
        if args.batches:
            command += ["--batches", str(args.batches)]
        out = (
            subprocess.run(command, capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        r = json.loads(out)
        base = baseline.setdefault(shape, r)
        print(
            f"{shape:6} {ist:6} {chunk or '-':>6} {precision:>9} {r['images_per_s']:10.1f} "
            f"{r['s_per_batch']:9.3f} {r['peak_rss_gb']:12.2f} "
            f"{r['images_per_s'] / base['images_per_s']:7.2f} "
            f"{r['cpu_images_per_s'] / base['cpu_images_per_s']:10.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
