"""The numeric precision a frozen backbone runs in: ``fp32`` | ``bf16`` | ``fp16`` | ``auto`` (issue #15).

Reduced precision here is *pure*: the frozen tower's weights and activations are cast to the dtype
(``model.to(dtype)``), not ``torch.autocast``. Measured on this project's 2-core Sapphire Rapids CPU
(benchmarks/bench_feature_extraction.py, ``--precision``), autocast re-casts the weights at every op and
ran slower than float32, while a pure-bf16 ViT-B/16 uses the AMX bf16 units end to end.

* ``auto``: bf16 on a CUDA device that supports it (else fp16), bf16 on a CPU with native bf16
  instructions (``amx_bf16`` or ``avx512_bf16`` in ``/proc/cpuinfo``), else fp32. The choice is logged.
* ``fp16`` on a CPU is refused: most CPUs have no fp16 arithmetic and torch emulates it slowly; ``bf16``
  is the CPU's reduced precision.
* ``bf16`` on a CPU without native support is allowed (torch emulates it), with a warning.

Features leave the tower as float32 (:func:`ovmlr.backbones.features.encode_image_tokens`), and a
reduced-precision backbone has its own ``backbone_id`` (its features differ slightly), hence its own
embedding cache.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@cache
def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The native bf16 instruction sets this CPU reports (``amx_bf16``, ``avx512_bf16``); empty if none or
    unknown (no ``/proc/cpuinfo``)."""
    path = Path(cpuinfo)
    if not path.is_file():
        return ()
    flags: set[str] = set()
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[-1].split())
            break
    return tuple(flag for flag in _CPU_BF16_FLAGS if flag in flags)


@cache
def machine_summary(cpuinfo: str = "/proc/cpuinfo") -> dict[str, object]:
    """The CPU a figure was measured on: model name, logical cores, native bf16 flags, torch version.

    Every benchmark prints it, and the shipped backbone's manifest records it: the same code runs at very
    different speeds (and, in reduced precision, to slightly different numbers) on CPUs with and without
    native bf16.
    """
    import os

    model = "unknown"
    path = Path(cpuinfo)
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[-1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "bf16_flags": list(cpu_bf16_flags(cpuinfo)),
        "torch": torch.__version__,
    }


def describe_machine(cpuinfo: str = "/proc/cpuinfo") -> str:
    """One line for a benchmark's header: CPU model, logical cores, native bf16 / AMX flags, torch version.

    Figures from different machines are not comparable (see :func:`machine_summary`); every script in
    ``benchmarks/`` prints this line first.
    """
    info = machine_summary(cpuinfo)
    flags = ", ".join(info["bf16_flags"]) or "none (bf16 is emulated)"
    return f"machine: {info['cpu']}, {info['cores']} cores, native bf16: {flags}, torch {info['torch']}"


def resolve_precision(
    requested: str, device: torch.device | str, where: str = "precision", autocast: bool = False
) -> str:
    """The precision to run in: ``requested`` checked against ``device``, ``auto`` decided (and logged).

    Args:
        requested: ``fp32``, ``bf16``, ``fp16`` or ``auto``.
        device: Where the model runs.
        where: The parameter's name, for messages.
        autocast: The precision is for ``torch.autocast`` (training), not a pure cast: ``auto`` then stays
            fp32 on a CPU, where bf16 autocast of the C²SRT head measured far slower than fp32
            (``benchmarks/bench_training.py``, default shape, same loaded machine: 0.96 vs 9.6 images/s).

    Raises:
        ValueError: An unknown name, or ``fp16`` on a CPU.
    """
    device = torch.device(device)
    if requested not in (*PRECISIONS, "auto"):
        raise ValueError(f"{where}: expected one of {[*PRECISIONS, 'auto']}, got {requested!r}")
    if requested == "auto":
        if device.type == "cuda":
            chosen = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            reason = f"CUDA device {torch.cuda.get_device_name(device)}"
        elif autocast:
            chosen, reason = "fp32", "CPU: bf16 autocast measured slower than fp32 there"
        elif cpu_bf16_flags():
            chosen, reason = "bf16", f"CPU with {', '.join(cpu_bf16_flags())}"
        else:
            chosen, reason = "fp32", "CPU without native bf16 instructions"
        logger.info("%s: auto -> %s (%s)", where, chosen, reason)
        return chosen
    if requested == "fp16" and device.type == "cpu":
        raise ValueError(f"{where}: fp16 on a CPU is emulated and slow; use bf16 (or fp32)")
    if requested == "bf16" and device.type == "cpu" and not cpu_bf16_flags():
        logger.warning("%s: bf16 on a CPU without native bf16 instructions is emulated (slow)", where)
    return requested


def precision_agreement(
    reference: tuple[torch.Tensor, torch.Tensor],
    reduced: tuple[torch.Tensor, torch.Tensor],
    text: torch.Tensor,
    k: int = 5,
) -> dict[str, float]:
    """The accuracy guard of a reduced precision: how close its features and zero-shot rankings are to fp32.

    Goals (issue #24): feature cosine ≥ 0.999 and top-k agreement ≥ 99 %.

    Args:
        reference: fp32 ``(global [B, D], patches [B, P, D])`` of some images.
        reduced: The same images' features in the reduced precision.
        text: Category text features (any norm), for the zero-shot rankings.
        k: The ranking depth compared.

    Returns:
        ``global_cosine_mean/min``, ``patch_cosine_mean/min``, ``top{k}_agreement`` (mean over images of the
        share of the fp32 top-k categories also in the reduced top-k) and ``top1_agreement``.

    Shapes:
        text: [C, D]
    """
    (g32, p32), (g16, p16) = (tuple(t.float() for t in pair) for pair in (reference, reduced))
    cos_g = F.cosine_similarity(g16, g32, dim=-1)
    cos_p = F.cosine_similarity(p16, p32, dim=-1)
    text = F.normalize(text.float(), dim=-1)
    k = min(k, text.shape[0])
    top32, top16 = ((F.normalize(g, dim=-1) @ text.T).topk(k, dim=1).indices for g in (g32, g16))
    shared = (top32.unsqueeze(2) == top16.unsqueeze(1)).any(dim=2).float().mean(dim=1)  # [B]
    return {
        "global_cosine_mean": float(cos_g.mean()),
        "global_cosine_min": float(cos_g.min()),
        "patch_cosine_mean": float(cos_p.mean()),
        "patch_cosine_min": float(cos_p.min()),
        f"top{k}_agreement": float(shared.mean()),
        "top1_agreement": float((top32[:, 0] == top16[:, 0]).float().mean()),
    }


def precision_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a resolved precision name."""
    if precision not in DTYPES:
        raise ValueError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
    return DTYPES[precision]
