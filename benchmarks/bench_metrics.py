"""Time the evaluation metrics at NUS-WIDE's test shape (107,859 images × 1,006 categories, 81 unseen).

Random scores (float32) and labels (~2 % positives, ~1 % unknown); prints seconds per call.
Run: ``.venv/bin/python benchmarks/bench_metrics.py [--images N] [--categories C] [--seed S]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ovmlr.backbones.precision import describe_machine
from ovmlr.metrics import mean_average_precision, precision_recall_f1_at_k, zsl_gzsl_metrics


def make_data(n_images: int, n_categories: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 scores and int8 labels (1 with p=0.02, -1 with p=0.01, else 0)."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_images, n_categories), dtype=np.float32)
    draw = rng.random((n_images, n_categories), dtype=np.float32)
    labels = np.where(draw < 0.02, 1, np.where(draw < 0.03, -1, 0)).astype(np.int8)
    return scores, labels


def timed(label: str, fn, *args) -> object:  # noqa: ANN001 - any callable
    """Run ``fn(*args)`` once and print its wall time."""
    start = time.perf_counter()
    result = fn(*args)
    print(f"{label:<32s} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    """Parse arguments, build the data and time each metric."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=107_859)
    parser.add_argument("--categories", type=int, default=1_006)
    parser.add_argument("--unseen", type=int, default=81)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(describe_machine())
    scores, labels = make_data(args.images, args.categories, args.seed)
    unseen = np.zeros(args.categories, dtype=bool)
    unseen[-args.unseen :] = True
    print(f"shape {scores.shape}, {int((labels == 1).sum())} positives")
    timed("mean_average_precision", mean_average_precision, scores, labels)
    timed("precision_recall_f1_at_k (k=3)", precision_recall_f1_at_k, scores, labels, 3)
    metrics = timed("zsl_gzsl_metrics (ks=3,5)", zsl_gzsl_metrics, scores, labels, unseen)
    print({name: round(value, 4) for name, value in metrics.items()})


if __name__ == "__main__":
    main()
