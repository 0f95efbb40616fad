"""StudentImageEncoder: equals the frozen backbone's cached features at init; only chosen parts train."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ovmlr.backbones import ManifestImageDataset, StudentImageEncoder
from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.pipelines.feature_extraction.nodes import (
    extract_image_embeddings,
    hash_images,
    index_image_features,
)


@pytest.fixture
def manifest(tmp_path) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"image_id": f"img{i}", "path": f"{i}.png", "split": "train"})
    return pd.DataFrame(rows)


def test_student_at_init_reproduces_the_cached_features(tiny_spec, tiny_backbone, manifest, tmp_path):
    spec = tiny_spec.to_dict()
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    cache = EmbeddingCacheDataset(str(tmp_path / "cache"), str(tmp_path / "spec.json"))
    params = {
        "device": "cpu",
        "batch_size": 2,
        "num_workers": 0,
        "chunk_size": 8,
        "image_root": str(tmp_path),
        "hash_workers": 1,
    }
    hashes, _ = hash_images(manifest, pd.DataFrame(columns=["path", "size", "mtime_ns", "image_key"]), params)
    for chunk in extract_image_embeddings(hashes, cache.load(), spec, params):
        cache.save(chunk)
    image_keys, _ = index_image_features(hashes, cache.load())
    cached_global, cached_patches = cache.load().load(image_keys["image_key"].tolist())

    dataset = ManifestImageDataset(manifest, tiny_backbone.preprocess, (16, 16), image_root=str(tmp_path))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    assert [dataset[i][1] for i in range(len(dataset))] == manifest["image_id"].tolist()
    student = StudentImageEncoder(tiny_backbone.model.visual, trainable_blocks=1)
    global_feats, patches = student(images)
    np.testing.assert_allclose(global_feats.detach().numpy(), cached_global, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(patches.detach().numpy(), cached_patches, rtol=1e-5, atol=1e-5)


def test_only_the_top_blocks_ln_post_and_proj_are_trainable(tiny_backbone):
    student = StudentImageEncoder(tiny_backbone.model.visual, trainable_blocks=1)
    trainable = {name for name, p in student.named_parameters() if p.requires_grad}
    assert trainable == {
        name
        for name, _ in student.named_parameters()
        if name.startswith(("visual.transformer.resblocks.1.", "visual.ln_post.", "visual.proj"))
    }
    assert (
        "visual.conv1.weight" not in trainable
        and "visual.transformer.resblocks.0.attn.in_proj_weight" not in trainable
    )
    assert not any(
        p.requires_grad for p in tiny_backbone.model.parameters()
    )  # the frozen backbone is untouched
    global_feats, _ = student(torch.randn(2, 3, 16, 16))
    global_feats.sum().backward()
    assert tiny_backbone.model.visual.proj.grad is None and student.visual.proj.grad is not None
    assert "trainable_blocks=1/2" in repr(student)


def test_trainable_blocks_must_exist(tiny_backbone):
    with pytest.raises(ValueError, match=r"trainable_blocks must be in \[0, 2\]"):
        StudentImageEncoder(tiny_backbone.model.visual, trainable_blocks=3)


def test_manifest_dataset_augments_and_names_an_undecodable_file(tiny_backbone, manifest, tmp_path):
    flipped = ManifestImageDataset(
        manifest,
        tiny_backbone.preprocess,
        (16, 16),
        image_root=str(tmp_path),
        augment=lambda image: tiny_backbone.preprocess(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    )
    plain = ManifestImageDataset(manifest, tiny_backbone.preprocess, (16, 16), image_root=str(tmp_path))
    torch.testing.assert_close(flipped[0][0], plain[0][0].flip(-1))
    (tmp_path / "2.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"Cannot decode image '.*2\.png'"):
        plain[2]


def test_a_convolutional_student_trains_its_top_stage_and_head_and_keeps_batch_norm_statistics(
    tiny_cnn_backbone,
):
    teacher = tiny_cnn_backbone.model.visual.eval()
    student = StudentImageEncoder(teacher, trainable_blocks=1)
    trainable = {name for name, p in student.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("visual.trunk.layer4.", "visual.head.")) for name in trainable)
    assert any(name.startswith("visual.head.proj") for name in trainable)
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    student.train()  # batch norm keeps the teacher's statistics: same features as the frozen tower
    global_feats, patches = student(images)
    expected = teacher.trunk.forward_features(images)
    torch.testing.assert_close(global_feats, tiny_cnn_backbone.model.encode_image(images))
    assert patches.shape[1] == expected.shape[2] * expected.shape[3]
    assert "trainable_blocks=1/4" in repr(student)
