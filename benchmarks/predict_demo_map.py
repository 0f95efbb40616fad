"""How well does the trained model tag images of a style it never saw, with mostly new label names?

The predict demo folder (``make predict-demo``: Twemoji mosaics; the default dataset trains on Noto and
OpenMoji emoji and Openclipart, never Twemoji) names each image's emoji in its file name
(``03_hedgehog+rocket.png``), which gives labels to score against: mAP over the labels of
``predict.labels`` and F1@3 per image, for C²SRT (the predict stage's scores) and the backbone's zero-shot
cosine, and chance.
A 16-image check of the open-vocabulary path, not a benchmark of the method.

Run from the project root after ``make predict``: ``.venv/bin/python benchmarks/predict_demo_map.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ovmlr.metrics import mean_average_precision, precision_recall_f1_at_k
from ovmlr.trained import load_trained
from ovmlr.trained.images import open_image


def file_labels(path: str, labels: list[str]) -> list[int]:
    """1 for each label named in the file name (``NN_a+b+c.ext``), else 0."""
    named = Path(path).name.split(".")[0].split("_", 1)[1].split("+")
    return [int(label in named) for label in labels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", default="data/07_model_output/predictions.parquet")
    parser.add_argument("--model", default="data/06_models/c2srt_trained")
    args = parser.parse_args()
    labels = yaml.safe_load(Path("conf/base/parameters_predict.yml").read_text())["predict"]["labels"]
    table = pd.read_parquet(args.predictions)
    y = np.array([file_labels(p, labels) for p in table["path"]])
    trained = load_trained(args.model)
    label_set = trained.labels(labels)
    g, _ = trained.encode_images([open_image(p) for p in table["path"]])
    zero_shot = (g / np.linalg.norm(g, axis=1, keepdims=True)) @ label_set.vocabulary.text[: len(labels)].T
    new = sum(p != "training" for p in label_set.policies)
    print(f"{len(table)} images, {len(labels)} labels ({new} not in the training vocabulary)")
    for name, scores in (("C²SRT", table[labels].to_numpy()), ("zero-shot", zero_shot)):
        f1 = precision_recall_f1_at_k(scores, y, 3)[2]
        print(f"{name:10s} mAP {100 * mean_average_precision(scores, y):.1f}  F1@3 {100 * f1:.1f}")
    print(f"chance: label frequency {100 * y.mean():.1f}")


if __name__ == "__main__":
    main()
