"""backbone_id: what changes it and what does not; spec validation."""

from __future__ import annotations

import dataclasses

import pytest

from ovmlr.backbones import BackboneSpec
from ovmlr.backbones.spec import weights_identity


def _spec(**changes) -> BackboneSpec:
    base = BackboneSpec(model_name="ViT-B-16", pretrained="openai")
    return dataclasses.replace(base, **changes).with_id()


def test_backbone_id_is_stable_and_readable():
    assert _spec().backbone_id == _spec().backbone_id
    assert _spec().backbone_id.startswith("ViT-B-16-")


def test_backbone_id_changes_with_weights_architecture_and_preprocessing():
    ids = {
        _spec().backbone_id,
        _spec(pretrained="laion2b_s34b_b88k").backbone_id,
        _spec(model_name="ViT-B-32").backbone_id,
        _spec(preprocess={"image_interpolation": "bilinear"}).backbone_id,
        _spec(model_config={"embed_dim": 8, "vision_cfg": {}, "text_cfg": {}}).backbone_id,
    }
    assert len(ids) == 5


def test_backbone_id_ignores_the_text_tower_location():
    assert _spec(hf_text_tower="/a/minilm").backbone_id == _spec(hf_text_tower="/b/minilm").backbone_id


def test_a_local_checkpoint_is_identified_by_its_content(tmp_path):
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    first.write_bytes(b"weights-1")
    second.write_bytes(b"weights-1")
    assert _spec(pretrained=str(first)).backbone_id == _spec(pretrained=str(second)).backbone_id
    second.write_bytes(b"weights-2")
    assert _spec(pretrained=str(first)).backbone_id != _spec(pretrained=str(second)).backbone_id
    assert weights_identity("ViT-B-16", str(first), 0) == (
        "sha256:" + "d6d6b238a083cd70d9cca3b4232e0289a0dc5cfaa9644d8af7601f92b5c76f4f"
    )


def test_random_weights_are_identified_by_their_seed():
    assert (
        _spec(pretrained=None, random_seed=1).backbone_id != _spec(pretrained=None, random_seed=2).backbone_id
    )


def test_unknown_pretrained_value_names_the_known_tags():
    with pytest.raises(ValueError, match="neither a pretrained tag of 'ViT-B-16'.*openai"):
        _spec(pretrained="no-such-tag-or-file")


def test_spec_round_trips_and_rejects_unknown_keys():
    spec = _spec(preprocess={"image_mean": [0.5, 0.5, 0.5]})
    assert BackboneSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        BackboneSpec.from_dict(spec.to_dict() | {"colour": "red"})
    with pytest.raises(ValueError, match="preprocess: unknown keys"):
        BackboneSpec(model_name="ViT-B-16", preprocess={"size": 224})
