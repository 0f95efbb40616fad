"""Eq. 1 image tokens and Eq. 3 / 24 text features against open_clip's own encoders."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from ovmlr.backbones import category_text_features, encode_image_tokens, ensemble_text_features
from ovmlr.backbones.features import fill_templates, output_width, patch_count

TEMPLATES = ["a photo of a {}.", "there is a {} in the scene.", "a {}."]
NAMES = ["cat", "dog", "truck", "ankle boot"]


def test_global_feature_is_encode_image_and_patches_have_the_grid_shape(tiny_backbone):
    images = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    global_feats, patches = encode_image_tokens(tiny_backbone.model.visual, images)
    assert global_feats.shape == (3, 16)
    assert patches.shape == (3, 4, 16)  # (16 / 8)^2 patches, D = embed_dim
    torch.testing.assert_close(global_feats, tiny_backbone.model.encode_image(images), rtol=1e-5, atol=1e-6)


def test_patches_are_open_clips_output_tokens_through_the_projection(tiny_backbone):
    images = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    reference = copy.deepcopy(tiny_backbone.model.visual)
    reference.output_tokens = True
    pooled, tokens = reference(images)  # tokens after ln_post, not projected
    global_feats, patches = encode_image_tokens(tiny_backbone.model.visual, images)
    torch.testing.assert_close(patches, tokens @ reference.proj, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(global_feats, pooled, rtol=1e-5, atol=1e-6)


def test_encode_image_tokens_rejects_a_tower_without_patches():
    with pytest.raises(TypeError, match="VisionTransformer"):
        encode_image_tokens(torch.nn.Linear(4, 4), torch.zeros(1, 4))


def test_ensemble_is_the_normalised_mean_of_per_template_features(tiny_backbone):
    per_template, ensemble = category_text_features(
        tiny_backbone.model,
        tiny_backbone.tokenizer,
        NAMES,
        TEMPLATES,
        batch_size=5,
        device=torch.device("cpu"),
    )
    assert per_template.shape == (3, 4, 16)
    assert ensemble.shape == (4, 16)
    torch.testing.assert_close(per_template.norm(dim=-1), torch.ones(3, 4))
    torch.testing.assert_close(ensemble, F.normalize(per_template.mean(dim=0), dim=-1))
    single = tiny_backbone.model.encode_text(
        tiny_backbone.tokenizer(["there is a truck in the scene."]), normalize=True
    )
    torch.testing.assert_close(per_template[1, 2], single[0], rtol=1e-5, atol=1e-6)


def test_ensemble_of_a_hand_worked_case():
    per_template = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # T=2, C=1, D=2
    torch.testing.assert_close(ensemble_text_features(per_template), torch.tensor([[2**-0.5, 2**-0.5]]))


@pytest.mark.parametrize("template", ["a photo", "a {} and a {}"])
def test_templates_need_exactly_one_placeholder(template):
    with pytest.raises(ValueError, match="exactly one"):
        fill_templates([template], NAMES)


def test_trim_padding_drops_only_all_padding_columns():
    from ovmlr.backbones.features import trim_padding

    tokens = torch.tensor([[5, 6, 0, 0, 0], [5, 6, 7, 0, 0]])
    assert trim_padding(tokens).tolist() == [[5, 6, 0], [5, 6, 7]]
    assert trim_padding(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 3)


def test_clips_own_text_tower_keeps_its_context(tiny_backbone):
    from ovmlr.backbones.features import encode_prompts

    prompts = ["a photo of a cat.", "a dog."]
    with torch.inference_mode():
        full = tiny_backbone.model.encode_text(tiny_backbone.tokenizer(prompts), normalize=True)
    ours = encode_prompts(tiny_backbone.model, tiny_backbone.tokenizer, prompts, 1, torch.device("cpu"))
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-6)


def test_trimmed_padding_is_exact_for_a_hugging_face_tower():
    from ovmlr.backbones import BackboneSpec, load_backbone
    from ovmlr.backbones.features import encode_prompts

    loaded = load_backbone(BackboneSpec(model_name="ovmlr-demo-vit-p12-96", allow_random_weights=True))
    prompts = ["a drawing of a cat.", "clip art of a fire truck with a ladder."]
    with torch.inference_mode():
        full = loaded.model.encode_text(loaded.tokenizer(prompts), normalize=True)
    ours = encode_prompts(loaded.model, loaded.tokenizer, prompts, 2, torch.device("cpu"))
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-6)


def test_a_convolutional_towers_patches_are_its_feature_map_through_the_projection(tiny_cnn_backbone):
    visual = tiny_cnn_backbone.model.visual.eval()
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    global_feats, patches = encode_image_tokens(visual, images)
    assert patches.shape == (3, 4, 16) and patch_count(visual) == 4 and output_width(visual) == 16
    torch.testing.assert_close(global_feats, tiny_cnn_backbone.model.encode_image(images))
    torch.testing.assert_close(global_feats, patches.mean(dim=1))  # average pooling, linear projection
    fmap = visual.trunk.forward_features(images)  # [3, C, 2, 2]
    torch.testing.assert_close(patches[:, 1], visual.head.proj(fmap[:, :, 0, 1]))  # row-major positions
