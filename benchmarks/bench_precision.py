"""Reduced precision (issue #15): extraction throughput at ViT-B/16 shape and the accuracy guard.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_precision.py [--images 64] [--batch-size 32]
        [--accuracy-images 512] [--json out.json]

1. **Matmul peak** of this machine, float32 and bfloat16 (square 2048 products), measured first: the bound
   the extraction is compared with.
2. **Extraction node throughput** at ViT-B/16 shape (224×224, P = 196, D = 512; random weights — speed does
   not depend on them): the feature_extraction node end to end (hashing, PNG decode, preprocessing, the
   tower, shard writes) in ``fp32`` (the baseline, today's node) and ``bf16`` (``backbone.precision``).
   Printed as images/s, as a ratio to fp32 in the same run (goal ≥ 4×)
   and as the fraction of the matmul bound (ViT-B/16's FLOPs per image × images/s ÷ the faster of the two
   peaks: bf16 where the CPU has native bf16, fp32 where bf16 is emulated).
3. **Accuracy guard on real images**: the trained demo backbone (``data/06_models``, written by
   ``make run``) on the default data's test mosaics, fp32 vs bf16: cosine of the global and of the patch
   features (goal ≥ 0.999), and zero-shot top-1 agreement over the vocabulary's text features. Skipped,
   with the reason, when ``make run`` has not run.

Timings take the best of ``--repeats`` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ovmlr.backbones import BackboneSpec, load_backbone
from ovmlr.backbones.features import encode_image_tokens
from ovmlr.backbones.precision import describe_machine, precision_agreement
from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.pipelines.feature_extraction.nodes import extract_image_embeddings, hash_images

PROJECT = Path(__file__).resolve().parents[1]


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an ``n × n`` matrix product in ``dtype`` (best of ``repeats``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def vit_flops_per_image(width: int = 768, layers: int = 12, tokens: int = 197, mlp: int = 3072) -> float:
    """Multiply-add FLOPs (×2) of a ViT's transformer blocks for one image (patch embedding excluded)."""
    attention = 4 * tokens * width * width + 2 * tokens * tokens * width  # qkv + out projections, QK^T, AV
    return 2 * layers * (attention + 2 * tokens * width * mlp)


def write_images(folder: Path, count: int, side: int) -> pd.DataFrame:
    """``count`` random RGB PNGs of ``side`` pixels and their manifest."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:05d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return pd.DataFrame({"image_id": [f"{i:05d}" for i in range(count)], "path": paths, "split": "test"})


def node_seconds(manifest: pd.DataFrame, spec: BackboneSpec, params: dict[str, Any], work: Path) -> float:
    """Seconds of a cold feature_extraction run (hashing + the generator node + shard writes)."""
    spec_path = work / f"{spec.backbone_id}.json"
    spec_path.write_text(json.dumps(spec.to_dict()))
    cache = EmbeddingCacheDataset(str(work / f"cache-{time.time_ns()}"), str(spec_path))
    start = time.perf_counter()
    hashes, _ = hash_images(manifest, pd.DataFrame(columns=["path", "size", "mtime_ns", "image_key"]), params)
    encoded = 0
    for chunk in extract_image_embeddings(hashes, cache.load(), spec.to_dict(), params):
        cache.save(chunk)
        encoded += len(chunk.image_keys)
    assert encoded == len(manifest), encoded
    return time.perf_counter() - start


def extraction(args: argparse.Namespace, peak: float) -> dict[str, Any]:
    vit = BackboneSpec("ViT-B-16", allow_random_weights=True)
    settings = {"fp32": vit, "bf16": dataclasses.replace(vit, precision="bf16")}
    flops = vit_flops_per_image()
    out: dict[str, Any] = {"flops_per_image": flops, "settings": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifest = write_images(work / "images", args.images, 224)
        for name, spec in settings.items():
            params = {
                "device": "cpu",
                "batch_size": args.batch_size,
                "num_workers": 0,
                "chunk_size": 4096,
                "image_root": ".",
                "hash_workers": 2,
            }
            best = min(node_seconds(manifest, spec.with_id(), params, work) for _ in range(args.repeats))
            out["settings"][name] = {"images_per_s": args.images / best, "seconds": best}
    base = out["settings"]["fp32"]["images_per_s"]
    print(f"\nExtraction node, ViT-B/16 shape, {args.images} images of 224x224, batch {args.batch_size}:")
    for name, entry in out["settings"].items():
        entry["ratio_to_fp32"] = entry["images_per_s"] / base
        entry["fraction_of_matmul_bound"] = entry["images_per_s"] * flops / 1e9 / peak
        print(
            f"  {name:22s} {entry['images_per_s']:7.1f} img/s  {entry['ratio_to_fp32']:5.2f}x fp32  "
            f"{entry['fraction_of_matmul_bound']:6.1%} of the matmul bound "
            f"({flops / 1e9:.1f} GFLOP/image)"
        )
    return out


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    spec_path = PROJECT / "data/06_models/backbone_spec.json"
    manifest_path = PROJECT / "data/03_primary/image_manifest.parquet"
    text_path = PROJECT / "data/04_feature/text_features.parquet"
    missing = [str(p) for p in (spec_path, manifest_path, text_path) if not p.exists()]
    if missing:
        print(f"\nAccuracy guard skipped: {missing} missing (run `make run` first)")
        return {"skipped": f"missing {missing}"}
    spec = BackboneSpec.from_dict(json.loads(spec_path.read_text()))
    manifest = pd.read_parquet(manifest_path)
    test = manifest[manifest["split"] == "test"].head(args.accuracy_images)
    fp32 = load_backbone(dataclasses.replace(spec, precision="fp32"))
    bf16 = load_backbone(dataclasses.replace(spec, precision="bf16"))
    images = torch.stack([fp32.preprocess(Image.open(PROJECT / p).convert("RGB")) for p in test["path"]])
    with torch.inference_mode():
        g32, p32 = encode_image_tokens(fp32.model.visual, images)
        g16, p16 = encode_image_tokens(bf16.model.visual, images)
    text = pd.read_parquet(text_path)
    text = text[text["template"] == "__ensemble__"]
    t = torch.from_numpy(np.stack(text["embedding"].to_numpy()).astype(np.float32))
    out = {"images": len(test), "backbone": spec.backbone_id, "categories": len(text)}
    out |= precision_agreement((g32, p32), (g16, p16), t, k=5)
    print(f"\nAccuracy guard: demo backbone {spec.backbone_id} on {len(test)} test mosaics, bf16 vs fp32:")
    print(
        f"  global feature cosine mean {out['global_cosine_mean']:.5f} min {out['global_cosine_min']:.5f}; "
        f"patch cosine mean {out['patch_cosine_mean']:.5f} min {out['patch_cosine_min']:.5f} (goal >= 0.999)"
    )
    print(
        f"  zero-shot agreement over {len(text)} categories: top-1 {out['top1_agreement']:.1%}, "
        f"top-5 {out['top5_agreement']:.1%} (goal >= 99%)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=64, help="images of the throughput runs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--accuracy-images", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    peaks = {name: matmul_peak(dtype) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(describe_machine())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"matmul peak (2048^2): fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s "
        f"({peaks['bf16'] / peaks['fp32']:.2f}x)"
    )
    # the bound: the faster of the two (bf16 where the CPU has native bf16, fp32 where bf16 is emulated)
    report = {"matmul_gflops": peaks, "extraction": extraction(args, max(peaks.values()))}
    report["accuracy"] = accuracy(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
