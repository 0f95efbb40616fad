"""Time and memory of the C²SRT head: IST forward+backward (dense vs PyG GATv2) and the ISR step.

Tasks: ``dense``, ``dense-ckpt`` (dense with ``ist.chunk_size``, activation checkpointing), ``dense-compiled``
(``ist.compile``: the attention through torch.compile; one untimed warm-up step compiles), ``pyg``, ``isr``.
Every IST line also prints images/s and its ratio to ``dense`` (the baseline, when it ran in the same call).
Shapes: ``demo`` (C=10, K=3, D=256, P=16, hidden 256, 4 heads: the Fashion-MNIST demo) and ``nus``
(C=1006, K=16, D=512, P=196, hidden 512, 8 heads: NUS-WIDE with ViT-B/16). Each measurement runs in a fresh
subprocess so its peak memory is its own: on CPU the growth of peak RSS (``resource.ru_maxrss``) during the
timed steps, on CUDA ``torch.cuda.max_memory_allocated``. Random inputs, seeded.

Run: ``.venv/bin/python benchmarks/bench_ist.py --shape demo`` or
``--shape nus --batch 8 --iters 2`` (B=64 at NUS shape needs ~20 GB on CPU per implementation).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import torch

from ovmlr.models import ISR, IST, ISRConfig, ISTConfig

SHAPES = {
    "demo": {"C": 10, "K": 3, "D": 256, "P": 16, "hidden": 256, "heads": 4},
    "nus": {"C": 1006, "K": 16, "D": 512, "P": 196, "hidden": 512, "heads": 8},
}


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _neighbours(n_categories: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """K distinct random neighbours per category, never itself. Shapes: → [C, K]"""
    scores = torch.rand(n_categories, n_categories, generator=generator)
    scores.fill_diagonal_(-1.0)
    return scores.topk(k, dim=1).indices


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _measure(task: str, shape: dict, args: argparse.Namespace, queue: mp.Queue) -> None:
    """Run ``iters`` timed steps (after one warm-up) of ``task`` in this (child) process; put the figures."""
    batch, iters, device = args.batch, args.iters, args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    C, K, D, P = shape["C"], shape["K"], shape["D"], shape["P"]
    text = torch.nn.functional.normalize(torch.randn(C, D, generator=gen), dim=-1).to(device)
    if task == "isr":
        module = ISR(ISRConfig(alpha=0.5, max_patches=32, temperature=100.0))
        patches = torch.randn(batch, P, D, generator=gen).to(device)

        def step() -> None:
            with torch.no_grad():
                module(patches, text)

    else:
        implementation, chunk = ("dense", args.chunk_size) if task == "dense-ckpt" else (task, None)
        if task == "dense-compiled":
            implementation = "dense"
        config = ISTConfig(
            implementation=implementation,
            layers=2,
            heads=shape["heads"],
            hidden_dim=shape["hidden"],
            chunk_size=chunk,
            compile=task == "dense-compiled",
        )
        module = IST(config, embed_dim=D).to(device)
        f_img = torch.randn(batch, C, D, generator=gen).to(device)
        neighbours = _neighbours(C, K, gen).to(device)

        def step() -> None:
            module(f_img, text, neighbours).square().mean().backward()

    rss_before = _peak_rss_mb()  # inputs and parameters allocated; the steps' temporaries are not
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step()  # warm-up (counts for memory, not for time)
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / iters
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_rss_mb() - rss_before
    queue.put((seconds, peak, _peak_rss_mb()))


def run_isolated(task: str, shape: dict, args: argparse.Namespace) -> tuple[float, float, float]:
    """Run :func:`_measure` in a spawned process and return ``(s/step, step peak MB, process peak MB)``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_measure, args=(task, shape, args, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"{task} benchmark failed (exit code {process.exitcode}; out of memory?)")
    return queue.get()


def main() -> None:
    """Parse arguments and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="demo")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the workers (0: default)")
    tasks = ["dense", "dense-ckpt", "dense-compiled", "pyg", "isr"]
    parser.add_argument("--tasks", nargs="+", default=tasks, choices=tasks)
    parser.add_argument("--chunk-size", type=int, default=128, help="ist.chunk_size of the dense-ckpt task")
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    threads = args.threads or torch.get_num_threads()
    print(
        f"torch {torch.__version__}, {threads} threads, device {args.device}, python {sys.version.split()[0]}"
    )
    print(f"shape {args.shape}: B={args.batch} {shape}, {args.iters} timed iterations")
    baseline = None
    for task in args.tasks:
        what = "ISR forward (no grad)" if task == "isr" else f"IST {task} fwd+bwd"
        seconds, peak, process_peak = run_isolated(task, shape, args)
        memory = "peak alloc" if args.device == "cuda" else "peak RSS growth"
        figures = f"{seconds * 1000:9.1f} ms/batch  {memory} {peak:7.0f} MB (process {process_peak:.0f} MB)"
        if task != "isr":
            rate = args.batch / seconds
            baseline = rate if task == "dense" else baseline
            ratio = f"  {rate / baseline:5.2f}x dense" if baseline else ""
            figures += f"  {rate:7.1f} images/s{ratio}"
        print(f"{what:<30s} {figures}", flush=True)


if __name__ == "__main__":
    main()
