"""New label names' text features: the text tower every time (today) against the persistent text cache.

Measured in one run on the demo backbone's architecture (MiniLM text tower, random image weights; speed does
not depend on them), ``--names`` made-up names through the eight prompt templates of
``conf/base/globals.yml``:

1. **no cache**: every prompt through the text tower (the baseline, ratio 1.00x);
2. **cache, cold**: the same through :class:`~ovmlr.backbones.text_cache.TextFeatureCache` (encoded once,
   shards and checksums written);
3. **cache, warm**: a fresh cache object on the same folder (another ``predict`` run or server): nothing
   encoded.

The goal of issue #24: 1,000 new names in <= 8 s cold and <= 2 s warm. The warm features are checked equal to
the baseline's.

    .venv/bin/python benchmarks/bench_text_cache.py [--names 1000] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml

from ovmlr.backbones import BackboneSpec, category_text_features, load_backbone
from ovmlr.backbones.precision import describe_machine
from ovmlr.backbones.text_cache import TextFeatureCache

PROJECT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--model", default="ovmlr-demo-vit-p16-128")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    print(describe_machine())
    templates = yaml.safe_load((PROJECT / "conf/base/globals.yml").read_text())["prompt_templates"]
    spec = BackboneSpec(args.model, allow_random_weights=True, precision=args.precision).with_id()
    loaded = load_backbone(spec)
    names = [f"made-up thing {i}" for i in range(args.names)]

    def run(cache: TextFeatureCache | None) -> tuple[float, torch.Tensor]:
        start = time.perf_counter()
        _, ensemble = category_text_features(
            loaded.model, loaded.tokenizer, names, templates, 256, loaded.device, cache=cache
        )
        return time.perf_counter() - start, ensemble

    run(None)  # warm-up (first calls allocate)
    print(
        f"{args.names} names x {len(templates)} templates, {spec.backbone_id}, "
        f"torch threads {torch.get_num_threads()}"
    )
    base, expected = run(None)
    with tempfile.TemporaryDirectory(prefix="ovmlr-text-cache-") as folder:
        cold, _ = run(TextFeatureCache(folder, spec.backbone_id))
        warm, got = run(TextFeatureCache(folder, spec.backbone_id))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    print(f"no cache (text tower)  {base:7.2f} s  (1.00x)")
    print(f"cache, cold            {cold:7.2f} s  ({base / cold:.2f}x; goal <= 8 s)")
    print(f"cache, warm            {warm:7.2f} s  ({base / warm:.1f}x; goal <= 2 s)")


if __name__ == "__main__":
    main()
