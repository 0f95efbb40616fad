"""Text features (long table, Eq. 24 ensemble) and the backbone's zero-shot metrics from the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ovmlr.backbones import BackboneSpec, load_backbone
from ovmlr.core.vocabulary import ENSEMBLE
from ovmlr.metrics import mean_average_precision
from ovmlr.pipelines.feature_extraction.nodes import (
    encode_category_texts,
    evaluate_zero_shot,
    extract_image_embeddings,
    index_image_features,
)

CATEGORIES = pd.DataFrame(
    {"category_id": [2, 0, 1], "name": ["bag", "coat", "ankle boot"], "dataset_role": ""}
)


def test_text_features_long_table_has_every_template_and_the_ensemble(spec, params):
    table = encode_category_texts(CATEGORIES, spec, params)
    assert len(table) == 3 * (2 + 1)
    assert table["template"].unique().tolist() == [*params["templates"], ENSEMBLE]
    assert table["category_id"].tolist()[:3] == [0, 1, 2]
    assert table["name"].tolist()[:3] == ["coat", "ankle boot", "bag"]
    embeddings = np.stack(table["embedding"].to_numpy())
    assert embeddings.dtype == np.float32 and embeddings.shape == (9, 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    per_template = embeddings[:6].reshape(2, 3, 16)
    mean = per_template.mean(axis=0)
    np.testing.assert_allclose(embeddings[6:], mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-6)
    loaded = load_backbone(BackboneSpec.from_dict(spec))
    single = loaded.model.encode_text(
        loaded.tokenizer(["there is a ankle boot in the scene."]), normalize=True
    )
    np.testing.assert_allclose(embeddings[4], single[0].detach().numpy(), atol=1e-6)


def test_text_features_need_category_names(spec, params):
    with pytest.raises(ValueError, match=r"categories lacks columns \['name'\]"):
        encode_category_texts(CATEGORIES.drop(columns="name"), spec, params)


def test_zero_shot_metrics_are_the_cosine_scores_map(manifest, cache, spec, params, hashes_of):
    hashes = hashes_of(manifest, params)
    for chunk in extract_image_embeddings(hashes, cache.load(), spec, params):
        cache.save(chunk)
    image_keys, _ = index_image_features(hashes, cache.load())
    text_features = encode_category_texts(CATEGORIES, spec, params)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (7, 3)).astype(np.int8)
    labels[0] = 1  # every category has a positive
    test_labels = pd.DataFrame(labels, columns=["coat", "ankle boot", "bag"]).assign(
        image_id=manifest["image_id"]
    )
    split = pd.DataFrame(
        {"category_id": [0, 1, 2], "name": ["coat", "ankle boot", "bag"], "role": ["seen", "seen", "unseen"]}
    )
    metrics = evaluate_zero_shot(cache.load(), image_keys, text_features, test_labels, split, top_k=[1, 3])
    global_feats, _ = cache.load().load(image_keys["image_key"].tolist())
    text = np.stack(text_features[text_features["template"] == ENSEMBLE]["embedding"].to_numpy())
    assert global_feats.flags.writeable
    image = torch.nn.functional.normalize(torch.from_numpy(global_feats), dim=-1).numpy()
    expected = mean_average_precision(image @ text.T, labels)
    assert metrics["mAP"] == {"step": 0, "value": pytest.approx(expected)}
    assert metrics["gzsl/mAP"]["value"] == pytest.approx(expected)
    assert "zsl/P_at_1" in metrics and "zsl/P_at_3" not in metrics
