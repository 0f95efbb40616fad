"""How much do the frozen backbone's global features know about the seen categories? (val split only)

A bound for what any head on these features can reach, measured against the backbone's own zero-shot
score: a linear classifier (one logistic output per seen category, full-batch Adam on the train split's
L2-normalised global features) is scored on the val split's seen categories, next to the zero-shot cosine
score on the same categories. When the supervised probe barely beats zero-shot, the features, not the head,
limit C²SRT. The test split is never read.

Run from the project root after ``kedro run --pipeline=train``:
``.venv/bin/python benchmarks/probe_features.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from diagnose_zsl import load_inputs

from ovmlr.metrics import mean_average_precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_inputs(with_test=False)
    train, val, vocabulary = data["splits"]["train"], data["splits"]["val"], data["vocabulary"]
    seen = np.flatnonzero(~vocabulary.unseen_mask)
    train_labels = train.labels if train.labels.shape[1] == len(seen) else train.labels[:, seen]
    n_seen = len(seen)
    x_train = F.normalize(torch.from_numpy(train.global_feats), dim=-1)
    x_val = F.normalize(torch.from_numpy(val.global_feats), dim=-1)
    y_train = torch.from_numpy((train_labels == 1).astype(np.float32))
    probe = torch.nn.Linear(x_train.shape[1], n_seen)
    optimizer = torch.optim.Adam(probe.parameters(), lr=args.lr)
    for _ in range(args.steps):
        loss = F.binary_cross_entropy_with_logits(probe(10 * x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seen_labels = val.labels[:, seen]
    with torch.inference_mode():
        probe_map = mean_average_precision(probe(10 * x_val).numpy(), seen_labels)
        text = F.normalize(torch.from_numpy(vocabulary.text[seen]), dim=-1)
        zero_shot_map = mean_average_precision((x_val @ text.T).numpy(), seen_labels)
    chance = float((seen_labels == 1).mean())
    print(
        f"val, {n_seen} seen categories, {len(val)} images: mAP of a supervised linear probe "
        f"{probe_map:.4f}, of the zero-shot score {zero_shot_map:.4f}; positive rate {chance:.4f}"
    )


if __name__ == "__main__":
    main()
