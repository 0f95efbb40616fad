"""Explanations of a tiny trained model: ISR's heat map sits on the patches ISR selected, IST's attention
sums to 1 over a label's neighbours, new names say which policy gave them their neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ovmlr.trained.explain import explain, explain_images, model_view


def _images(n: int = 2) -> list[Image.Image]:
    rng = np.random.default_rng(5)
    return [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture(name="features", scope="module")
def features_fixture(trained):
    return trained.encode_images(_images())


def test_heat_map_mass_sits_on_the_patches_isr_selected(trained, features) -> None:
    labels = trained.labels(["cat", "zebra", "truck"])
    g, p = features
    explained = explain(trained, g, p, labels)
    head_out = trained.head()(
        torch.from_numpy(g),
        torch.from_numpy(p),
        torch.from_numpy(labels.vocabulary.text),
        torch.from_numpy(labels.vocabulary.neighbours),
    )
    assert len(explained) == 2 and explained[0].grid == (4, 4)  # P = 16 patches of the tiny ViT
    for b, image in enumerate(explained):
        for c, entry in enumerate(image.labels):
            np.testing.assert_array_equal(entry.patch_mask, head_out["isr_mask"][b, c].numpy())
            assert entry.patch_mask.any() and not entry.patch_mask.all()
            np.testing.assert_allclose(entry.patch_weights[entry.patch_mask].sum(), 1.0, rtol=1e-6)
            assert (entry.patch_weights[~entry.patch_mask] == 0).all()
            assert (entry.patch_weights[entry.patch_mask] > 0).all()


def test_attention_sums_to_one_over_a_labels_neighbours_and_scores_are_predicts(trained, features) -> None:
    labels = trained.labels(["cat", "zebra", "truck"])
    g, p = features
    explained = explain(trained, g, p, labels)
    scores = trained.score(g, p, labels)
    for b, image in enumerate(explained):
        assert [e.label for e in image.labels] == ["cat", "zebra", "truck"]
        np.testing.assert_array_equal([e.score for e in image.labels], scores[b].astype(np.float64))
        for entry in image.labels:
            assert entry.attention.shape == (2, 2, 2)  # L = 2 layers, K = 2 neighbours, H = 2 heads
            np.testing.assert_allclose(entry.attention.sum(axis=1), 1.0, rtol=1e-5)
            np.testing.assert_allclose(entry.neighbour_weights.sum(), 1.0, rtol=1e-5)
    assert not np.allclose(explained[0]["cat"].neighbour_weights, explained[1]["cat"].neighbour_weights)


def test_a_new_name_names_its_policy_and_its_seen_neighbours(trained, features) -> None:
    labels = trained.labels(["zebra", "lion", "cat"])
    entry = explain(trained, *features, labels)[0]
    zebra, lion, cat = entry["zebra"], entry["lion"], entry["cat"]
    assert (zebra.status, zebra.policy) == ("new", "similarity")
    assert (lion.status, lion.policy) == ("unseen", "training")
    assert (cat.status, cat.policy) == ("seen", "training")
    assert [n.name for n in cat.neighbours] == ["dog", "car"]  # the fixture's mined neighbours of "cat"
    expected = [labels.vocabulary.names[j] for j in labels.vocabulary.neighbours[0]]
    assert [n.name for n in zebra.neighbours] == expected
    assert all(n.status == "seen" for n in zebra.neighbours)
    with pytest.raises(KeyError, match="no explanation for label 'dog'"):
        entry["dog"]


def test_explain_images_equals_explain_of_the_encoded_features(trained, features) -> None:
    labels = trained.labels(["cat", "zebra"])
    from_images = explain_images(trained, _images(), labels)
    from_features = explain(trained, *features, labels)
    for a, b in zip(from_images, from_features, strict=True):
        for x, y in zip(a.labels, b.labels, strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-6)
            np.testing.assert_array_equal(x.patch_mask, y.patch_mask)


def test_model_view_is_the_preprocessed_image(trained) -> None:
    image = Image.new("RGB", (64, 40), (200, 30, 90))
    view = model_view(trained, image)
    assert view.shape == (32, 32, 3) and view.dtype == np.uint8
    assert np.abs(view.astype(int) - [200, 30, 90]).max() <= 2


def test_a_head_without_isr_or_ist_has_no_heat_map_or_neighbours(make_trained, features) -> None:
    plain = make_trained()
    plain.model_config = {**plain.model_config, "use_isr": False, "use_ist": False}
    plain.head_state = {k: v for k, v in plain.head_state.items() if not k.startswith(("isr.", "ist."))}
    entry = explain(plain, *features, plain.labels(["cat"]))[0]["cat"]
    assert entry.patch_weights is None and entry.patch_mask is None and entry.neighbours == ()
