"""ONNX export against the PyTorch model: images/s of the same graph on the same CPU, and their agreement.

Both score preprocessed images ``[B, 3, H, W]`` over the same fixed labels: PyTorch through
:class:`~ovmlr.trained.TrainedC2SRT` (``encode_images`` + ``score``, inference mode, float32), onnxruntime
through the exported graph (:func:`~ovmlr.trained.export.export_onnx`, CPU provider, as many intra-op threads
as PyTorch uses). Reported per batch size: images/s of each, the ratio, and the largest |score difference|.

Run from the project root:
``.venv/bin/python benchmarks/bench_export.py --model data/06_models/c2srt_trained`` (a trained-model folder),
or ``--random-backbone ViT-B-16`` for random weights of the paper's shapes (speed
does not depend on the weights; 81 labels, K = 16). ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import onnxruntime
import torch

from ovmlr.backbones import BackboneSpec
from ovmlr.core.model_factory import build_model
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.models import config_to_dict, load_model_config
from ovmlr.trained import TrainedC2SRT, load_trained
from ovmlr.trained.export import INPUT_NAME, export_onnx, preprocessing


def random_model(model_name: str, config: str, labels: int, k: int) -> TrainedC2SRT:
    """A model of ``model_name``'s shapes with random weights and ``labels`` random categories."""
    spec = BackboneSpec(model_name=model_name, allow_random_weights=True, random_seed=0).with_id()
    head = config_to_dict(load_model_config(config, {"isr.temperature": 100.0}))
    rng = np.random.default_rng(0)
    dim = head["embed_dim"]
    text = rng.standard_normal((labels, dim)).astype(np.float32)
    neighbours = np.stack(
        [rng.choice(np.delete(np.arange(labels), i), k, replace=False) for i in range(labels)]
    )
    vocabulary = Vocabulary(
        np.arange(labels), tuple(f"label {i}" for i in range(labels)), ("seen",) * labels, text, neighbours
    )
    return TrainedC2SRT(head, build_model(head, seed=0).state_dict(), vocabulary, spec, ("a photo of a {}.",))


def images_per_s(run, images: torch.Tensor, repeats: int) -> float:
    """Images/s of ``run(images)`` (one warm-up call, then the best of ``repeats``)."""
    run(images)
    best = min(_timed(run, images) for _ in range(repeats))
    return len(images) / best


def _timed(run, images: torch.Tensor) -> float:
    start = time.perf_counter()
    run(images)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained-model folder (save_trained)")
    parser.add_argument(
        "--random-backbone", default="ViT-B-16", help="open_clip name when --model is not given"
    )
    parser.add_argument("--head-config", default="c2srt")
    parser.add_argument("--labels", type=int, default=81)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    trained = (
        load_trained(args.model)
        if args.model
        else random_model(args.random_backbone, args.head_config, args.labels, 16)
    )
    labels = trained.labels()
    start = time.perf_counter()
    model = export_onnx(trained, labels)
    export_s = time.perf_counter() - start
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    height, width = preprocessing(trained)["size"]
    report = {
        "model": args.model or f"{args.random_backbone} random weights + {args.head_config} head",
        "labels": len(labels),
        "onnx_mb": round(len(model) / 1e6, 1),
        "export_s": round(export_s, 1),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "batches": [],
    }
    with torch.inference_mode():
        for batch_size in args.batch_sizes:
            images = torch.randn(
                batch_size, 3, height, width, generator=torch.Generator().manual_seed(batch_size)
            )
            torch_scores = trained.score(*trained.encode_images(images), labels)
            onnx_out = session.run(None, {INPUT_NAME: images.numpy()})[0]
            pytorch = images_per_s(
                lambda x: trained.score(*trained.encode_images(x), labels), images, args.repeats
            )
            ort = images_per_s(lambda x: session.run(None, {INPUT_NAME: x.numpy()}), images, args.repeats)
            row = {
                "batch": batch_size,
                "pytorch_images_per_s": round(pytorch, 2),
                "onnxruntime_images_per_s": round(ort, 2),
                "ratio": round(ort / pytorch, 2),
                "max_abs_diff": float(np.abs(onnx_out - torch_scores).max()),
            }
            report["batches"].append(row)
            print(json.dumps(row))
    print(json.dumps({k: v for k, v in report.items() if k != "batches"}))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
