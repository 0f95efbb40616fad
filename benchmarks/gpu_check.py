"""One short GPU check (issue #15): extraction, NUS-shape training and predict throughput, in one JSON file.

Run through ``benchmarks/gpu_check.sh`` on a CUDA machine (≤ 5 minutes with the defaults). Measures:

1. **Decode bound**: JPEG decode + resize to 224 of ``--images`` synthetic 500×375 JPEGs (NUS-WIDE's typical
   size) through the extraction's DataLoader with ``--workers`` processes and pinned memory, no model: the
   images/s the input side can feed.
2. **Extraction**: the feature_extraction node at ViT-B/16 shape (random weights) in fp32 and bf16, the same
   images and workers; images/s, the ratio to fp32 and to the decode bound (goal ≥ 0.8×).
3. **Training step** at NUS-WIDE shape (C = 925 seen, K = 16, D = 512, P = 196, B = 64): frozen-mode C²SRT
   forward + backward + AdamW, dense IST in fp32 and under bf16 autocast; images/s and peak memory.
4. **Predict**: a C²SRT head at the same shape scoring cached features (``predict_scores``), images/s.

``--device cpu --tiny`` runs every part on tiny shapes (the test suite's check that this script works).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ovmlr.backbones import BackboneSpec, load_backbone
from ovmlr.backbones.images import ImageFileDataset
from ovmlr.backbones.precision import machine_summary
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.core.scoring import predict_scores
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.models import ranking_loss
from ovmlr.pipelines.feature_extraction.nodes import extract_image_embeddings, hash_images
from ovmlr.training.loop import precision_autocast

NUS = {"config": "c2srt", "C": 925, "P": 196, "D": 512, "K": 16, "B": 64}
TINY = {"config": "c2srt_small", "C": 12, "P": 4, "D": 128, "K": 3, "B": 4}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_jpegs(folder: Path, count: int, size: tuple[int, int]) -> pd.DataFrame:
    """``count`` random-noise JPEGs of ``size`` (W, H) and their manifest."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:05d}.jpg"
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return pd.DataFrame({"image_id": [p.stem for p in map(Path, paths)], "path": paths, "split": "test"})


def decode_bound(manifest: pd.DataFrame, preprocess: Any, side: int, args: argparse.Namespace) -> float:
    """Images/s of decode + preprocess + pinned host-to-device copy, without a model."""
    loader = DataLoader(
        ImageFileDataset(manifest["path"].tolist(), preprocess, (side, side), skip_errors=True),
        batch_size=args.batch_size,
        num_workers=args.workers,
        pin_memory=args.device.type == "cuda",
    )
    start = time.perf_counter()
    for images, _ in loader:
        images.to(args.device, non_blocking=True)
    sync(args.device)
    return len(manifest) / (time.perf_counter() - start)


def extraction(manifest: pd.DataFrame, spec: BackboneSpec, args: argparse.Namespace, work: Path) -> float:
    """Images/s of one cold feature_extraction node run (hashing, decode, tower, shard writes)."""
    spec = spec.with_id()
    spec_path = work / f"{spec.backbone_id}-{time.time_ns()}.json"
    spec_path.write_text(json.dumps(spec.to_dict()))
    cache = EmbeddingCacheDataset(str(work / f"cache-{time.time_ns()}"), str(spec_path))
    params = {
        "device": str(args.device),
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "chunk_size": 1 << 16,
        "image_root": ".",
        "hash_workers": 4,
    }
    empty = pd.DataFrame(columns=["path", "size", "mtime_ns", "image_key"])
    start = time.perf_counter()
    hashes, _ = hash_images(manifest, empty, params)
    for chunk in extract_image_embeddings(hashes, cache.load(), spec.to_dict(), params):
        cache.save(chunk)
    sync(args.device)
    return len(manifest) / (time.perf_counter() - start)


def head_and_inputs(shape: dict[str, Any], device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    config = resolve_model_config(
        {"config": shape["config"], "overrides": {}},
        {"embed_dim": shape["D"], "logit_scale": 100.0, "backbone_id": "random"},
    )
    head = build_model(config, seed=0).to(device)
    rng = np.random.default_rng(0)
    text = torch.nn.functional.normalize(torch.randn(shape["C"], shape["D"]), dim=-1)
    neighbours = np.stack(
        [
            rng.choice(np.delete(np.arange(shape["C"]), c), shape["K"], replace=False)
            for c in range(shape["C"])
        ]
    )
    return head, {"text": text.to(device), "neighbours": torch.from_numpy(neighbours).to(device)}


def training_step(shape: dict[str, Any], precision: str, args: argparse.Namespace) -> dict[str, float]:
    """Images/s and peak memory of frozen-mode training steps (after one warm-up step)."""
    head, inputs = head_and_inputs(shape, args.device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
    g = torch.randn(shape["B"], shape["D"], device=args.device)
    p = torch.randn(shape["B"], shape["P"], shape["D"], device=args.device)
    labels = (torch.rand(shape["B"], shape["C"], device=args.device) < 0.02).to(torch.int8)
    labels[:, 0] = 1

    def step() -> None:
        with precision_autocast(precision, args.device):
            loss = ranking_loss(head(g, p, inputs["text"], inputs["neighbours"])["logits"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    if args.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(args.device)
    sync(args.device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(args.device)
    seconds = (time.perf_counter() - start) / args.steps
    cuda = args.device.type == "cuda"
    peak = torch.cuda.max_memory_allocated(args.device) / 2**30 if cuda else None  # CPU: not measured
    return {"images_per_s": shape["B"] / seconds, "s_per_step": seconds, "peak_gb": peak}


def predict(shape: dict[str, Any], args: argparse.Namespace) -> float:
    """Images/s of a head scoring cached features over the whole vocabulary (``predict_scores``)."""
    head, inputs = head_and_inputs(shape, args.device)
    n = shape["B"] * 8
    names = tuple(f"c{i}" for i in range(shape["C"]))
    vocabulary = Vocabulary(
        np.arange(shape["C"]),
        names,
        ("seen",) * shape["C"],
        inputs["text"].cpu().numpy(),
        inputs["neighbours"].cpu().numpy(),
    )
    g = np.random.default_rng(0).standard_normal((n, shape["D"])).astype(np.float32)
    p = np.random.default_rng(1).standard_normal((n, shape["P"], shape["D"])).astype(np.float32)
    predict_scores(head, g[: shape["B"]], p[: shape["B"]], vocabulary, shape["B"], args.device)
    start = time.perf_counter()
    predict_scores(head, g, p, vocabulary, shape["B"] * 2, args.device)
    sync(args.device)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tiny", action="store_true", help="tiny shapes: a quick check that the script runs")
    args = parser.parse_args()
    args.device = torch.device(args.device)
    if args.device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "gpu_check: no CUDA device visible to torch (run with --device cpu --tiny to dry-run)"
        )
    shape = TINY if args.tiny else NUS
    model_name, side = ("ovmlr-demo-vit-p8-56", 56) if args.tiny else ("ViT-B-16", 224)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name(args.device)
        if args.device.type == "cuda"
        else platform.processor(),
        "torch": torch.__version__,
        "machine": machine_summary(),
        "settings": {k: str(v) for k, v in vars(args).items()},
    }
    spec = BackboneSpec(model_name, allow_random_weights=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifest = write_jpegs(work / "images", args.images, (500, 375) if not args.tiny else (80, 60))
        loaded = load_backbone(spec, args.device)
        bound = decode_bound(manifest, loaded.preprocess, side, args)
        rates = {"fp32": extraction(manifest, spec, args, work)}
        rates["bf16"] = extraction(manifest, dataclasses.replace(spec, precision="bf16"), args, work)
        report["extraction"] = {
            "model": model_name,
            "decode_bound_images_per_s": bound,
            **{
                name: {"images_per_s": r, "x_fp32": r / rates["fp32"], "x_decode_bound": r / bound}
                for name, r in rates.items()
            },
        }
    report["training_step"] = {
        "shape": shape,
        **{precision: training_step(shape, precision, args) for precision in ("fp32", "bf16")},
    }
    report["predict_images_per_s"] = predict(shape, args)
    args.out.write_text(json.dumps(report, indent=2, allow_nan=False))
    print(json.dumps(report, indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
