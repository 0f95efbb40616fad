"""Time and memory of the C²SRT head: IST forward+backward (lean vs dense vs PyG GATv2) and the ISR step.

Tasks: ``dense`` (the eager baseline), ``lean`` (``ist.implementation: lean``, the default: FFN_in's first map
per image through ISR's pooling weights, composed maps, memory-lean attention), ``dense-ckpt`` (dense with
``ist.chunk_size``, activation checkpointing), ``dense-compiled`` (``ist.compile``: the attention through
torch.compile; one untimed warm-up step compiles), ``pyg``, ``isr``. Every IST line also prints images/s and
its ratio to ``dense`` measured in the same call; the last line reads ``speedup_vs_eager=<lean / dense>``.
The dense, compiled and PyG tasks get :math:`f_{img}` [B, C, D] ready made (as today's head hands it over
after ISR, untimed); ``lean`` gets ISR's mixture (patches, pooling weights, global) and its mixing is timed.
With ``--check`` the lean output and gradients are compared with dense ones on the same inputs first.
Shapes: ``demo`` (C=10, K=3, D=256, P=16, hidden 256, 4 heads: the Fashion-MNIST demo) and ``nus``
(C=1006, K=16, D=512, P=196, hidden 512, 8 heads: NUS-WIDE with ViT-B/16). Each measurement runs in a fresh
subprocess so its peak memory is its own: on CPU the growth of peak RSS (``resource.ru_maxrss``) during the
timed steps, on CUDA ``torch.cuda.max_memory_allocated``. Random inputs, seeded.

Run: ``.venv/bin/python benchmarks/bench_ist.py --shape demo`` or
``--shape nus --batch 8 --iters 2 --tasks dense lean pyg --check`` (B=64 at NUS shape needs ~20 GB on CPU for
the dense layer).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import torch

from ovmlr.backbones.precision import describe_machine
from ovmlr.models import ISR, IST, ISRConfig, ISTConfig, MixedFeatures

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


def _ist_config(task: str, shape: dict, chunk_size: int) -> ISTConfig:
    """The IST config of one task (``dense-ckpt`` and ``dense-compiled`` are dense layers)."""
    implementation = "dense" if task.startswith("dense") else task
    return ISTConfig(
        implementation=implementation,
        layers=2,
        heads=shape["heads"],
        hidden_dim=shape["hidden"],
        chunk_size=chunk_size if task == "dense-ckpt" else None,
        compile=task == "dense-compiled",
    )


def _ist_input(
    task: str, batch: int, C: int, P: int, D: int, gen: torch.Generator, device: str
) -> torch.Tensor | MixedFeatures:
    """Random f_img [B, C, D] for the references, ISR's mixture of the same size for ``lean``: N = 32 of the
    P patches selected per category (as ``isr.max_patches`` of the paper config)."""
    patches = torch.nn.functional.normalize(torch.randn(batch, P, D, generator=gen), dim=-1)
    keep = torch.rand(batch, C, P, generator=gen).argsort(dim=-1) < min(32, P)
    weights = keep.float() / keep.sum(dim=-1, keepdim=True) / 2
    mixed = MixedFeatures(patches.to(device), weights.to(device), (patches.mean(1) / 2).to(device))
    return mixed if task == "lean" else mixed.dense()


def check_lean(shape: dict, args: argparse.Namespace) -> tuple[float, float]:
    """Largest relative difference of lean vs dense outputs and parameter gradients (same weights, inputs).

    Returns:
        ``(output, gradient)`` max |lean - dense| / max |dense|, over the output and every parameter.
    """
    gen = torch.Generator().manual_seed(1)
    C, K, D, P = shape["C"], shape["K"], shape["D"], shape["P"]
    text = torch.nn.functional.normalize(torch.randn(C, D, generator=gen), dim=-1)
    mixed, neighbours = _ist_input("lean", 2, C, P, D, gen, "cpu"), _neighbours(C, K, gen)
    results = []
    for task in ("dense", "lean"):
        torch.manual_seed(0)
        module = IST(_ist_config(task, shape, args.chunk_size), embed_dim=D).eval()
        out = module(mixed, text, neighbours)
        out.square().mean().backward()
        results.append((out.detach(), [p.grad for p in module.parameters()]))
    (dense, dense_grads), (lean, lean_grads) = results

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    return rel(lean, dense), max(rel(a, b) for a, b in zip(lean_grads, dense_grads, strict=True))


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
        module = IST(_ist_config(task, shape, args.chunk_size), embed_dim=D).to(device)
        ist_input = _ist_input(task, batch, C, P, D, gen, device)
        neighbours = _neighbours(C, K, gen).to(device)

        def step() -> None:
            module(ist_input, text, neighbours).square().mean().backward()

    rss_before = _peak_rss_mb()  # inputs and parameters allocated; the steps' temporaries are not
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step()  # warm-up (counts for memory, not for time)
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step()
    _sync(device)
    seconds, cpu_seconds = (time.perf_counter() - start) / iters, (time.process_time() - cpu_start) / iters
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_rss_mb() - rss_before
    queue.put((seconds, cpu_seconds, peak, _peak_rss_mb()))


def run_isolated(task: str, shape: dict, args: argparse.Namespace) -> tuple[float, float, float, float]:
    """Run :func:`_measure` in a spawned process and return
    ``(wall s/step, CPU s/step, step peak MB, process peak MB)``."""
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
    tasks = ["dense", "lean", "dense-ckpt", "dense-compiled", "pyg", "isr"]
    parser.add_argument(
        "--tasks", nargs="+", default=tasks, choices=tasks, help="may repeat (interleaved runs)"
    )
    parser.add_argument("--check", action="store_true", help="compare lean with dense first (B=2)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="rates and ratios from the process's CPU time, not wall time (loaded machine: --threads 1)",
    )
    parser.add_argument("--chunk-size", type=int, default=128, help="ist.chunk_size of the dense-ckpt task")
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    threads = args.threads or torch.get_num_threads()
    print(describe_machine())
    print(
        f"torch {torch.__version__}, {threads} threads, device {args.device}, python {sys.version.split()[0]}"
    )
    print(f"shape {args.shape}: B={args.batch} {shape}, {args.iters} timed iterations")
    if args.check:
        out_diff, grad_diff = check_lean(shape, args)
        print(
            f"lean vs dense (B=2): max relative difference output {out_diff:.2e}, gradients {grad_diff:.2e}"
        )
    baseline, rates = None, {}
    for task in args.tasks:
        what = "ISR forward (no grad)" if task == "isr" else f"IST {task} fwd+bwd"
        wall, cpu, peak, process_peak = run_isolated(task, shape, args)
        seconds = cpu if args.cpu_time else wall
        memory = "peak alloc" if args.device == "cuda" else "peak RSS growth"
        figures = (
            f"{wall * 1000:9.1f} ms/batch (CPU {cpu * 1000:8.1f} ms)  {memory} {peak:7.0f} MB "
            f"(process {process_peak:.0f} MB)"
        )
        if task != "isr":
            rate = args.batch / seconds
            baseline = rate if task == "dense" and baseline is None else baseline
            rates.setdefault(task, []).append(rate)
            ratio = f"  {rate / baseline:5.2f}x dense" if baseline else ""
            figures += f"  {rate:7.1f} images/s{ratio}"
        print(f"{what:<30s} {figures}", flush=True)
    if "dense" in rates and "lean" in rates:  # best of each task's repeats (a shared machine only slows)
        print(f"speedup_vs_eager={max(rates['lean']) / max(rates['dense']):.2f}")


if __name__ == "__main__":
    main()
