"""PICO weights fitted into a head before training, from the training split only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ovmlr.alignment.pico import PICOConfig
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.models import C2SRT, load_model_config
from ovmlr.training.alignment import fit_head_alignment

D, C, N = 8, 4, 64


def _world() -> tuple[FeatureSplit, Vocabulary]:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(C, D)).astype(np.float32)
    text[:, 4:] = 1.0  # dimensions 4-7: the same for every category (no semantics)
    labels = np.zeros((N, C), dtype=np.int8)
    labels[np.arange(N), np.arange(N) % C] = 1
    style = rng.normal(size=(N, 1)).astype(np.float32) * 3
    g = labels.astype(np.float32) @ text + 0.1 * rng.normal(size=(N, D)).astype(np.float32)
    g[:, 4:] = style  # a per-image style offset
    split = FeatureSplit(np.array([f"i{i}" for i in range(N)]), g, np.zeros((N, 1, D), np.float32), labels)
    vocab = Vocabulary(np.arange(C), tuple("abcd"), ("seen",) * C, text, np.array([[1], [2], [3], [0]]))
    return split, vocab


def _head(alignment: str) -> C2SRT:
    config = load_model_config(
        "c2srt", {"embed_dim": D, "use_isr": False, "use_ist": False, "alignment": alignment}
    )
    return C2SRT(config)


def test_pico_weights_are_fitted_into_the_head_and_favour_semantic_dimensions() -> None:
    split, vocab = _world()
    head = _head("pico")
    scores = fit_head_alignment(head, split, vocab, PICOConfig(iterations=2, seed=0))
    assert set(scores) == {"pico/plain", "pico/pairs", "pico/final"}
    weights = head.alignment_weights
    assert weights[:4].min() > weights[4:].max()
    assert fit_head_alignment(_head("cosine"), split, vocab, PICOConfig()) == {}


def test_pico_refuses_labels_that_are_not_the_seen_vocabulary() -> None:
    split, vocab = _world()
    bad = FeatureSplit(split.image_ids, split.global_feats, split.patch_feats, split.labels[:, :2])
    with pytest.raises(ValueError, match="2 label columns for 4 seen categories"):
        fit_head_alignment(_head("pico"), bad, vocab, PICOConfig())
    assert torch.equal(_head("pico").alignment_weights, torch.ones(D))
