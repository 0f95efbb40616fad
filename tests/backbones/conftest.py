"""Fixtures: a tiny randomly initialised open_clip ViT (16×16 images, 8×8 patches -> P = 4, D = 16)."""

from __future__ import annotations

import pytest
import torch

from ovmlr.backbones import BackboneSpec, LoadedBackbone, load_backbone

TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_spec() -> BackboneSpec:
    return BackboneSpec(
        model_name="ovmlr-test-tiny", model_config=TINY_CONFIG, allow_random_weights=True, random_seed=0
    ).with_id()


@pytest.fixture
def tiny_backbone(tiny_spec: BackboneSpec) -> LoadedBackbone:
    return load_backbone(tiny_spec, "cpu")


TINY_CNN_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {
        "timm_model_name": "resnet10t",
        "timm_model_pretrained": False,
        "timm_pool": "avg",
        "timm_proj": "linear",
        "image_size": 64,
    },
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture
def tiny_cnn_backbone() -> LoadedBackbone:
    """A timm ResNet tower (64×64 images, stride 32 -> a 2×2 feature map, P = 4, D = 16)."""
    spec = BackboneSpec(
        model_name="ovmlr-test-tiny-cnn",
        model_config=TINY_CNN_CONFIG,
        allow_random_weights=True,
        random_seed=0,
    ).with_id()
    return load_backbone(spec, "cpu")
