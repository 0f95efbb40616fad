"""Reduced-precision backbones: the choice of precision, the spec's identity, and bf16 features."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ovmlr.backbones import BackboneSpec, load_backbone
from ovmlr.backbones import precision as precision_module
from ovmlr.backbones.features import encode_image_tokens
from ovmlr.backbones.precision import (
    cpu_bf16_flags,
    describe_machine,
    precision_agreement,
    precision_dtype,
    resolve_precision,
)
from ovmlr.backbones.spec import compute_backbone_id


def test_explicit_precisions_are_checked_against_the_device() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="training.precision: fp16 on a CPU"):
        resolve_precision("fp16", "cpu", "training.precision")
    with pytest.raises(ValueError, match=r"backbone.precision: expected one of .* got 'half'"):
        resolve_precision("half", "cpu", "backbone.precision")
    assert precision_dtype("bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="got 'auto'"):
        precision_dtype("auto")


def test_auto_takes_bf16_only_on_a_cpu_with_native_bf16(monkeypatch, caplog) -> None:
    monkeypatch.setattr(precision_module, "cpu_bf16_flags", lambda: ("amx_bf16",))
    with caplog.at_level("INFO"):
        assert resolve_precision("auto", "cpu") == "bf16"
    assert "auto -> bf16 (CPU with amx_bf16)" in caplog.text
    monkeypatch.setattr(precision_module, "cpu_bf16_flags", lambda: ())
    assert resolve_precision("auto", "cpu") == "fp32"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert cpu_bf16_flags(str(info)) == ("amx_bf16", "avx512_bf16")
    assert cpu_bf16_flags(str(tmp_path / "missing")) == ()


def test_precision_is_part_of_the_backbone_id_only_below_fp32(tiny_spec: BackboneSpec) -> None:
    fp32 = tiny_spec.with_id()
    legacy = {k: v for k, v in fp32.to_dict().items() if k != "precision"}  # a spec written before the field
    assert BackboneSpec.from_dict(legacy).with_id().backbone_id == fp32.backbone_id
    bf16 = dataclasses.replace(tiny_spec, precision="bf16").with_id()
    assert bf16.backbone_id != fp32.backbone_id == compute_backbone_id(tiny_spec)
    with pytest.raises(ValueError, match="backbone precision: expected one of"):
        dataclasses.replace(tiny_spec, precision="auto")


def test_a_bf16_backbone_gives_float32_features_close_to_fp32(tiny_spec: BackboneSpec) -> None:
    fp32 = load_backbone(tiny_spec)
    bf16 = load_backbone(dataclasses.replace(tiny_spec, precision="bf16"))
    assert bf16.model.visual.conv1.weight.dtype is torch.bfloat16
    images = torch.randn(4, 3, *fp32.model.visual.image_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        g32, p32 = encode_image_tokens(fp32.model.visual, images)
        g16, p16 = encode_image_tokens(bf16.model.visual, images)
    assert g16.dtype is torch.float32 and p16.dtype is torch.float32 and p16.shape == p32.shape
    assert torch.nn.functional.cosine_similarity(g16, g32).min() > 0.99
    assert torch.nn.functional.cosine_similarity(p16, p32, dim=-1).min() > 0.99
    student = load_backbone(dataclasses.replace(tiny_spec, precision="bf16"), precision="fp32")
    assert student.model.visual.conv1.weight.dtype is torch.float32  # what fine-tuning asks for


def test_auto_autocast_stays_fp32_on_a_cpu(monkeypatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_bf16_flags", lambda: ("amx_bf16",))
    assert resolve_precision("auto", "cpu", autocast=True) == "fp32"
    assert resolve_precision("bf16", "cpu", autocast=True) == "bf16"  # asked for explicitly


def test_precision_agreement_measures_cosines_and_top_k_overlap() -> None:
    g = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    p = g.unsqueeze(1).repeat(1, 2, 1)
    text = torch.eye(3)
    same = precision_agreement((g, p), (g, p), text, k=2)
    assert same["global_cosine_min"] == pytest.approx(1.0) and same["top2_agreement"] == 1.0
    swapped = precision_agreement((g, p), (g.flip(0), p), text, k=1)
    assert swapped["top1_agreement"] == 0.0 and swapped["global_cosine_mean"] == pytest.approx(0.0)


@pytest.mark.skipif(not cpu_bf16_flags(), reason="guard of native bf16: this CPU emulates it")
def test_bf16_features_meet_the_accuracy_guard(trained) -> None:
    """The tiny model's tower in bf16 against fp32 on the same images: the goals of issue #24."""
    fp32 = load_backbone(dataclasses.replace(trained.backbone_spec, precision="fp32"))
    bf16 = load_backbone(dataclasses.replace(trained.backbone_spec, precision="bf16"))
    images = torch.rand(16, 3, *fp32.model.visual.image_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference = encode_image_tokens(fp32.model.visual, images)
        reduced = encode_image_tokens(bf16.model.visual, images)
    guard = precision_agreement(reference, reduced, torch.from_numpy(trained.vocabulary.text), k=5)
    assert guard["global_cosine_min"] >= 0.999 and guard["patch_cosine_mean"] >= 0.999, guard
    assert guard["top5_agreement"] >= 0.99, guard


def test_describe_machine_names_the_cpu_cores_and_bf16_flags(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: Test CPU 9000\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    line = describe_machine(str(info))
    assert "Test CPU 9000" in line and "amx_bf16" in line and "cores" in line
    old = tmp_path / "cpuinfo_old"  # (answers are cached per file)
    old.write_text("model name\t: Old CPU\nflags\t\t: fpu sse2\n")
    assert "none (bf16 is emulated)" in describe_machine(str(old))
