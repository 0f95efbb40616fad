"""Tagging images with new label names: the ``predict`` stage against a bare open_clip zero-shot loop, the
cost of new names, and the served MLflow model over HTTP.

Measured in one run, on the same images (the first ``--images`` test mosaics of the manifest, read from disk
as a user's files are), the same backbone, batch size and labels:

1. **bare loop**: open_clip's ``encode_image`` + cosine to the labels' prompt-ensemble text features (the
   zero-shot classifier every open_clip user writes); images/s of the image part.
2. **predict, cold**: the predict nodes (hash, decode, preprocess, encode through the trained model's encoder
   into the embedding cache, then C²SRT scores over the labels); images/s. Goal: >= 0.8x the bare loop.
3. **predict, warm**: the same images again: every feature comes from the cache.
4. **new names**: preparing 1,000 names the model never saw with the ``similarity`` policy (text features of
   every prompt template + K seen neighbours); goal <= 2 s on 2 cores.
5. **served**: ``mlflow models serve`` of the same model on 127.0.0.1: requests/s and p50/p95 latency for
   batches of 1 and 32 images (base64 PNG) with the same labels.

Run from the project root after ``make run``: ``.venv/bin/python benchmarks/bench_predict.py``
(``--model`` a trained-model folder, default the training stage's ``data/06_models/c2srt_trained``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from ovmlr.backbones.images import ImageFileDataset
from ovmlr.backbones.precision import describe_machine
from ovmlr.datasets.embedding_cache import EmbeddingCacheDataset
from ovmlr.pipelines.predict.nodes import (
    encode_prediction_images,
    list_prediction_images,
    score_prediction_images,
)
from ovmlr.trained import load_trained
from ovmlr.trained.images import encode_file_base64
from ovmlr.trained.local_server import LocalServer
from ovmlr.trained.pyfunc import ARTIFACT_KEY, entry_point, model_code_paths, model_signature

LABELS = ["cat", "dog", "tree", "car", "flower", "hedgehog", "ladybug", "strawberry", "guitar", "rocket"]


def bare_loop(trained, paths: list[str], labels: list[str], batch_size: int) -> float:
    """Images/s of open_clip's own zero-shot classifier on the image files (text prepared beforehand)."""
    loaded = trained.backbone()
    text = torch.from_numpy(trained.text_features(labels))
    size = loaded.model.visual.image_size
    size = tuple(size) if isinstance(size, tuple | list) else (size, size)
    loader = DataLoader(ImageFileDataset(paths, loaded.preprocess, size), batch_size=batch_size)
    start = time.perf_counter()
    with torch.inference_mode():
        for images, _ in loader:
            scores = loaded.model.encode_image(images, normalize=True) @ text.T
    assert scores.shape[1] == len(labels)
    return len(paths) / (time.perf_counter() - start)


def predict_run(trained, folder: str, labels: list[str], cache: str, batch_size: int) -> float:
    """Images/s of the predict nodes end to end (listing and hashing included; labels prepared before)."""
    label_set = trained.labels(labels)
    start = time.perf_counter()
    images = list_prediction_images(folder)
    dataset = EmbeddingCacheDataset(cache)
    params = {"batch_size": batch_size, "num_workers": 0, "chunk_size": 1024}
    for chunk in encode_prediction_images(trained, images, dataset.load(), params):
        dataset.save(chunk)
    table, _, skipped = score_prediction_images(trained, label_set, images, dataset.load(), 5, batch_size)
    elapsed = time.perf_counter() - start
    assert len(table) == len(images) and skipped.empty
    return len(images) / elapsed


def new_names(trained, n: int) -> tuple[float, float]:
    """Seconds to prepare ``n`` new names (similarity policy), and the text tower's prompts/s."""
    names = [f"made-up thing {i}" for i in range(n)]
    start = time.perf_counter()
    labels = trained.labels(names)
    elapsed = time.perf_counter() - start
    assert set(labels.policies) == {"similarity"}
    return elapsed, n * len(trained.templates) / elapsed


def _post(server: LocalServer, body: bytes) -> float:
    start = time.perf_counter()
    status, answer = server.post(body, timeout_s=300)
    assert status == 200, answer
    return time.perf_counter() - start


def served(
    model_folder: str, paths: list[str], labels: list[str], requests: int
) -> dict[str, dict[str, float]]:
    """Requests/s and p50/p95 latency (ms) of the served model, batches of 1 and 32."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="ovmlr-serve-") as tmp:
        mlflow.pyfunc.save_model(
            f"{tmp}/model",
            python_model=entry_point(),
            artifacts={ARTIFACT_KEY: model_folder},
            signature=model_signature(),
            code_paths=model_code_paths(),
        )
        with LocalServer(f"{tmp}/model", env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}) as server:
            encoded = [encode_file_base64(p) for p in paths[:32]]
            for batch in (1, 32):
                body = json.dumps(
                    {
                        "dataframe_records": [{"image": e} for e in encoded[:batch]],
                        "params": {"labels": labels},
                    }
                ).encode()
                _post(server, body)  # warm-up: prepares the labels once
                latencies = np.array([_post(server, body) for _ in range(requests)])
                results[f"batch {batch}"] = {
                    "requests/s": 1 / latencies.mean(),
                    "images/s": batch / latencies.mean(),
                    "p50 ms": 1000 * float(np.percentile(latencies, 50)),
                    "p95 ms": 1000 * float(np.percentile(latencies, 95)),
                }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/06_models/c2srt_trained")
    parser.add_argument("--manifest", default="data/03_primary/image_manifest.parquet")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    print(describe_machine())
    torch.manual_seed(0)
    trained = load_trained(args.model)
    manifest = pd.read_parquet(args.manifest)
    paths = manifest.loc[manifest["split"] == "test", "path"].head(args.images).tolist()
    print(
        f"model: {trained!r}; {len(paths)} test images; labels {LABELS}; "
        f"torch threads {torch.get_num_threads()}"
    )
    with tempfile.TemporaryDirectory(prefix="ovmlr-bench-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for i, path in enumerate(paths):  # the user's folder: the same files under new names
            (folder / f"{i:05d}.png").write_bytes(Path(path).read_bytes())
        files = sorted(str(p) for p in folder.iterdir())
        trained.labels(LABELS)  # load the backbone once, outside every timing
        bare_loop(trained, files[: args.batch_size], LABELS, args.batch_size)  # warm-up
        bare = bare_loop(trained, files, LABELS, args.batch_size)
        cold = predict_run(trained, str(folder), LABELS, f"{tmp}/cache", args.batch_size)
        warm = predict_run(trained, str(folder), LABELS, f"{tmp}/cache", args.batch_size)
        print(f"\nbare open_clip zero-shot loop  {bare:8.1f} images/s  (1.00x)")
        print(f"predict, cold cache            {cold:8.1f} images/s  ({cold / bare:.2f}x; goal >= 0.8x)")
        print(f"predict, warm cache            {warm:8.1f} images/s  ({warm / bare:.2f}x)")
        seconds, prompts = new_names(trained, args.names)
        print(
            f"\n{args.names} new names (similarity policy, {len(trained.templates)} templates): "
            f"{seconds:.2f} s ({prompts:.0f} prompts/s through the text tower; goal <= 2 s)"
        )
        print("\nserved over HTTP on 127.0.0.1 (mlflow models serve, 1 worker):")
        for batch, figures in served(args.model, files, LABELS, args.requests).items():
            shown = ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
            print(f"  {batch:9s} {shown}")


if __name__ == "__main__":
    main()
