"""The Table 5 "Prompt Tuning" vocabulary: every category's text feature from a CoOp context."""

from __future__ import annotations

import numpy as np
import pytest

from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.prompting.vocabulary import coop_vocabulary

D = 16
TINY_CLIP = {
    "embed_dim": D,
    "vision_cfg": {"image_size": 32, "patch_size": 16, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
SPEC = BackboneSpec(model_name="ovmlr-test-tiny-clip", model_config=TINY_CLIP, allow_random_weights=True)


def _world() -> tuple[Vocabulary, FeatureSplit]:
    rng = np.random.default_rng(0)
    names = ("cat", "dog", "car", "lion")
    text = rng.normal(size=(4, D)).astype(np.float32)
    vocab = Vocabulary(
        np.arange(4), names, ("seen", "seen", "seen", "unseen"), text, np.array([[1], [0], [0], [0]])
    )
    labels = (rng.random((12, 3)) < 0.5).astype(np.int8)
    g = rng.normal(size=(12, D)).astype(np.float32)
    return vocab, FeatureSplit(
        np.array([f"i{i}" for i in range(12)]), g, np.zeros((12, 1, D), np.float32), labels
    )


def test_coop_gives_every_category_a_new_text_feature_and_keeps_the_graph() -> None:
    vocab, train = _world()
    params = {"n_ctx": 4, "init": "a photo of a", "epochs": 1, "batch_size": 6}
    out = coop_vocabulary(vocab, train, SPEC.to_dict(), params, seed=0)
    assert out.text.shape == (4, D) and out.names == vocab.names and out.roles == vocab.roles
    np.testing.assert_allclose(np.linalg.norm(out.text, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out.neighbours, vocab.neighbours)
    again = coop_vocabulary(vocab, train, SPEC.to_dict(), params, seed=0)
    np.testing.assert_array_equal(out.text, again.text)  # deterministic with the row's seed


def test_coop_refuses_labels_that_are_not_the_seen_categories() -> None:
    vocab, train = _world()
    bad = FeatureSplit(train.image_ids, train.global_feats, train.patch_feats, train.labels[:, :2])
    with pytest.raises(ValueError, match="2 label columns for 3 seen categories"):
        coop_vocabulary(vocab, bad, SPEC.to_dict(), {"epochs": 1}, seed=0)
