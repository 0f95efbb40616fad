"""The training loop: loss decreases, resume equals uninterrupted, finetune trains only the top blocks."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ovmlr.backbones.features import encode_image_tokens
from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.features import FeatureSplit
from ovmlr.core.model_factory import build_model, resolve_model_config
from ovmlr.core.vocabulary import Vocabulary
from ovmlr.training.finetune import FinetuneConfig, finetune_task
from ovmlr.training.fit import best_epoch, fit, frozen_task
from ovmlr.training.loop import TrainingConfig
from ovmlr.training.tasks import make_training_task

D, P, C = 16, 4, 5
BACKBONE_INFO = {"embed_dim": D, "logit_scale": 10.0, "backbone_id": "toy"}
MODEL = {
    "config": "c2srt_small",
    "overrides": {"embed_dim": D, "ist.heads": 2, "ist.hidden_dim": 16, "isr.max_patches": 2},
}


def _vocabulary(seed=0) -> Vocabulary:
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(C, D)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return Vocabulary(
        np.arange(C),
        tuple("abcde"),
        ("seen",) * 3 + ("unseen",) * 2,
        text,
        np.array([[1, 2], [0, 2], [0, 1], [0, 1], [1, 2]]),
    )


def _split(vocab: Vocabulary, n: int, columns, seed: int) -> FeatureSplit:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, C)) < 0.4).astype(np.int8)
    g = labels.astype(np.float32) @ vocab.text + 0.5 * rng.normal(size=(n, D)).astype(np.float32)
    patches = g[:, None, :] + 0.5 * rng.normal(size=(n, P, D)).astype(np.float32)
    return FeatureSplit(np.array([f"i{seed}_{i}" for i in range(n)]), g, patches, labels[:, columns])


def _setup(epochs=3):
    vocab = _vocabulary()
    cfg = TrainingConfig.from_params(
        {"epochs": epochs, "batch_size": 16, "lr": 5e-3, "seed": 3, "ks": [1, 2], "device": "cpu"}
    )
    train = _split(vocab, 96, [0, 1, 2], seed=1)
    val = _split(vocab, 32, list(range(C)), seed=2)
    config = resolve_model_config(MODEL, BACKBONE_INFO)
    return vocab, cfg, train, val, config


def _run(vocab, cfg, train, val, config, resume_from=None, stop_after=None):
    head = build_model(config, seed=cfg.seed)
    checkpoints = []
    for ckpt in fit(
        frozen_task(head, train, val, cfg), val.labels, vocab.subset("seen"), vocab, cfg, "run", resume_from
    ):
        checkpoints.append(ckpt)
        if stop_after and ckpt["epoch"] == stop_after:
            break  # an interruption: the generator is abandoned after this epoch's checkpoint
    return checkpoints


def test_training_loss_decreases_and_selection_uses_validation():
    vocab, cfg, train, val, config = _setup(epochs=4)
    history = _run(vocab, cfg, train, val, config)[-1]["history"]
    losses = [h["train/loss"] for h in history]
    assert losses[-1] < losses[0]
    epoch, value = best_epoch(history, "gzsl/mAP")
    assert value == max(h["val/gzsl/mAP"] for h in history) and 1 <= epoch <= 4
    with pytest.raises(ValueError, match="'val/nope' was not recorded"):
        best_epoch(history, "nope")


def test_resume_equals_uninterrupted():
    vocab, cfg, train, val, config = _setup(epochs=3)
    full = _run(vocab, cfg, train, val, config)
    interrupted = _run(vocab, cfg, train, val, config, stop_after=1)
    resumed = _run(vocab, cfg, train, val, config, resume_from=interrupted[-1])
    assert [c["epoch"] for c in resumed] == [2, 3]
    for key, value in full[-1]["model_state"].items():
        torch.testing.assert_close(resumed[-1]["model_state"][key], value, rtol=0, atol=0)
    strip = [{k: v for k, v in h.items() if k != "train/images_per_s"} for h in full[-1]["history"]]
    assert [
        {k: v for k, v in h.items() if k != "train/images_per_s"} for h in resumed[-1]["history"]
    ] == strip


def test_unknown_training_parameter_is_named():
    with pytest.raises(ValueError, match=r"unknown training.loop parameter\(s\) \['epohcs'\]"):
        TrainingConfig.from_params({"epohcs": 3})
    with pytest.raises(ValueError, match="training.mode must be 'frozen' or 'finetune'"):
        TrainingConfig.from_params({"mode": "frozen-ish"})


TINY_CLIP = {
    "embed_dim": D,
    "vision_cfg": {"image_size": 32, "patch_size": 16, "width": 32, "layers": 2, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _random_images(folder, rng: np.random.Generator, n: int, n_train: int) -> list[dict]:
    """``n`` random 32×32 RGB PNGs and their manifest rows (the first ``n_train`` in train, then val)."""
    rows = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        rows.append({"image_id": f"img{i}", "path": str(path), "split": "train" if i < n_train else "val"})
    return rows


@pytest.mark.slow
def test_finetune_trains_top_block_with_distillation(tmp_path):
    spec = BackboneSpec(model_name="ovmlr-test-tiny-clip", model_config=TINY_CLIP, allow_random_weights=True)
    backbone = load_backbone(spec, "cpu")
    rng = np.random.default_rng(0)
    rows = _random_images(tmp_path, rng, n=24, n_train=16)
    manifest = pd.DataFrame(rows)
    images = torch.stack([backbone.preprocess(Image.open(r["path"])) for r in rows])
    with torch.inference_mode():
        g, p = encode_image_tokens(backbone.model.visual, images)
    vocab = _vocabulary()
    labels = (rng.random((24, C)) < 0.4).astype(np.int8)
    ids = manifest.image_id.to_numpy()
    train = FeatureSplit(ids[:16], g[:16].numpy(), p[:16].numpy(), labels[:16, :3])
    val = FeatureSplit(ids[16:], g[16:].numpy(), p[16:].numpy(), labels[16:])
    cfg = TrainingConfig.from_params(
        {
            "mode": "finetune",
            "epochs": 2,
            "batch_size": 8,
            "lr": 1e-3,
            "ks": [1, 2],
            "device": "cpu",
            "lambda_dist": 1.0,
        }
    )
    config = resolve_model_config(
        {"config": "c2srt_small", "overrides": MODEL["overrides"] | {"isr.max_patches": 1}}, BACKBONE_INFO
    )
    task = finetune_task(
        build_model(config), backbone, manifest, train, val, cfg, FinetuneConfig(trainable_blocks=1)
    )
    with torch.inference_mode():  # the student starts as the teacher: distillation target met at step 0
        torch.testing.assert_close(task.module.student(images[:4])[0], g[:4])
    before = {k: v.clone() for k, v in task.module.student.state_dict().items()}
    checkpoints = list(fit(task, val.labels, vocab.subset("seen"), vocab, cfg, "ft"))
    history = checkpoints[-1]["history"]
    assert all(np.isfinite(h["train/dist"]) and h["train/dist"] > 0 for h in history)
    assert history[0]["train/loss"] == pytest.approx(history[0]["train/cls"] + history[0]["train/dist"])
    after = task.module.student.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(
        k.startswith(("visual.transformer.resblocks.1.", "visual.ln_post", "visual.proj")) for k in changed
    )
    assert not any(k.startswith("visual.transformer.resblocks.0.") for k in changed)


@pytest.mark.slow
def test_the_training_node_builds_a_finetune_task_on_the_default_auto_device(tmp_path):
    spec = BackboneSpec(model_name="ovmlr-test-tiny-clip", model_config=TINY_CLIP, allow_random_weights=True)
    rng = np.random.default_rng(0)
    rows = _random_images(tmp_path, rng, n=4, n_train=2)
    ids = np.array([r["image_id"] for r in rows])
    feats = rng.standard_normal((4, D)).astype(np.float32)
    patches = rng.standard_normal((4, 4, D)).astype(np.float32)
    labels = np.ones((4, C), dtype=np.int8)
    train = FeatureSplit(ids[:2], feats[:2], patches[:2], labels[:2, :3])
    val = FeatureSplit(ids[2:], feats[2:], patches[2:], labels[2:])
    cfg = TrainingConfig.from_params({"mode": "finetune", "epochs": 1, "device": "auto"})
    config = resolve_model_config({"config": "c2srt_small", "overrides": MODEL["overrides"]}, BACKBONE_INFO)
    task = make_training_task(
        cfg,
        build_model(config),
        train,
        val,
        spec.to_dict(),
        pd.DataFrame(rows),
        FinetuneConfig(trainable_blocks=1),
    )
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(task.module.student.parameters()).device.type == expected


@pytest.mark.slow
@pytest.mark.parametrize("augment", [False, True])
def test_the_distillation_teacher_sees_the_students_view(tmp_path, augment: bool) -> None:
    """With augmentation the teacher encodes the same augmented view; without, the cached view (identical)."""
    spec = BackboneSpec(model_name="ovmlr-test-tiny-clip", model_config=TINY_CLIP, allow_random_weights=True)
    backbone = load_backbone(spec, "cpu")
    rows = _random_images(tmp_path, np.random.default_rng(1), n=6, n_train=4)
    images = torch.stack([backbone.preprocess(Image.open(r["path"])) for r in rows])
    with torch.inference_mode():
        g, p = encode_image_tokens(backbone.model.visual, images)
    ids = np.array([r["image_id"] for r in rows])
    labels = np.ones((6, C), dtype=np.int8)
    train = FeatureSplit(ids[:4], g[:4].numpy(), p[:4].numpy(), labels[:4, :3])
    val = FeatureSplit(ids[4:], g[4:].numpy(), p[4:].numpy(), labels[4:])
    cfg = TrainingConfig.from_params({"mode": "finetune", "epochs": 1, "batch_size": 4, "device": "cpu"})
    config = resolve_model_config({"config": "c2srt_small", "overrides": MODEL["overrides"]}, BACKBONE_INFO)
    ft = FinetuneConfig(trainable_blocks=1, augment=augment)
    task = finetune_task(build_model(config), backbone, pd.DataFrame(rows), train, val, cfg, ft)
    torch.manual_seed(0)
    batch = next(task.batches(torch.arange(4)))
    with torch.inference_mode():
        teacher_on_batch = backbone.model.visual(batch["images"])
    torch.testing.assert_close(batch["teacher"], teacher_on_batch, rtol=1e-5, atol=1e-5)
    assert torch.allclose(batch["teacher"], g[:4], atol=1e-5) is not augment  # the crop changed the view


def test_the_project_alignment_switch_reaches_the_model_config() -> None:
    plain = resolve_model_config(MODEL, BACKBONE_INFO)
    assert plain["alignment"] == "cosine"
    assert resolve_model_config({**MODEL, "alignment": "pico"}, BACKBONE_INFO)["alignment"] == "pico"
    explicit = {**MODEL, "alignment": "pico", "overrides": {**MODEL["overrides"], "alignment": "cosine"}}
    assert resolve_model_config(explicit, BACKBONE_INFO)["alignment"] == "cosine"  # an override wins
    with pytest.raises(ValueError, match="alignment must be 'cosine' or 'pico'"):
        resolve_model_config({**MODEL, "alignment": "dot"}, BACKBONE_INFO)


@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_mixed_precision_training_stays_close_to_fp32(precision: str) -> None:
    vocab, cfg, train, val, config = _setup(epochs=2)
    reference = list(_run(vocab, cfg, train, val, config))[-1]
    mixed_cfg = dataclasses.replace(cfg, precision=precision)
    mixed = list(_run(vocab, mixed_cfg, train, val, config))[-1]
    ref_history, mixed_history = reference["history"][-1], mixed["history"][-1]
    assert ref_history["train/loss"] == pytest.approx(mixed_history["train/loss"], rel=0.05)
    assert ref_history["val/gzsl/mAP"] == pytest.approx(mixed_history["val/gzsl/mAP"], abs=0.05)
    weights = mixed["model_state"]
    assert all(t.dtype != torch.bfloat16 for t in weights.values())  # float32 master weights


def test_the_dead_amp_flag_and_unknown_precisions_are_refused() -> None:
    with pytest.raises(ValueError, match="training.loop.amp was never read"):
        TrainingConfig.from_params({"amp": True})
    with pytest.raises(ValueError, match="precision must be fp32, bf16, fp16 or auto, got 'fp8'"):
        TrainingConfig.from_params({"precision": "fp8"})
