"""What the frozen vision-language backbone is: an open_clip model name, its weights and its preprocessing.

A :class:`BackboneSpec` is the ``backbone_spec`` dataset of docs/architecture.md. Its ``backbone_id``
identifies the features the backbone produces: a hash of the model name, the architecture, the *identity*
of the weights (the tag for a pretrained tag, the SHA-256 of the file content for a local checkpoint, the
seed for explicitly allowed random weights) and the preprocessing overrides. Caches keyed by it (the image
embedding cache) are therefore never shared between two backbones.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import open_clip

from .precision import PRECISIONS

PREPROCESS_KEYS = ("image_mean", "image_std", "image_interpolation", "image_resize_mode")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class BackboneSpec:
    """How to build the frozen backbone with ``open_clip.create_model_and_transforms``.

    Attributes:
        model_name: open_clip model name (``ViT-B-16``) or the name a custom ``model_config`` is registered
            under.
        pretrained: A pretrained tag of ``model_name`` (``openai``, ``laion2b_s34b_b88k``), a local checkpoint
            file, or ``None`` for random weights (only with ``allow_random_weights``).
        model_config: Custom open_clip architecture (keys of open_clip's ``model_configs/*.json``), or
            ``None`` for a built-in one.
        hf_text_tower: Local directory of a Hugging Face text tower replacing the config's
            ``text_cfg.hf_model_name`` (resolved at run time), or ``None``.
        preprocess: Overrides of the preprocessing: ``image_mean``, ``image_std``, ``image_interpolation``,
            ``image_resize_mode``.
        allow_random_weights: Accept ``pretrained=None`` (random weights; logged as a warning).
        random_seed: Seed of the random initialisation when ``pretrained`` is ``None``.
        precision: ``fp32``, ``bf16`` or ``fp16``: the dtype the frozen tower runs in (resolved, never
            ``auto``; :mod:`ovmlr.backbones.precision`). Part of ``backbone_id`` unless ``fp32``.
        backbone_id: Identity of the features (filled by :meth:`with_id`).
    """

    model_name: str
    pretrained: str | None = None
    model_config: dict[str, Any] | None = None
    hf_text_tower: str | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    allow_random_weights: bool = False
    random_seed: int = 0
    precision: str = "fp32"
    backbone_id: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.preprocess) - set(PREPROCESS_KEYS))
        if unknown:
            raise ValueError(f"backbone preprocess: unknown keys {unknown}; allowed: {list(PREPROCESS_KEYS)}")
        if not self.model_name:
            raise ValueError("backbone model_name must not be empty")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"backbone precision: expected one of {list(PRECISIONS)}, got {self.precision!r}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackboneSpec:
        """Build a spec from a ``backbone_spec`` JSON object (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"backbone_spec: unknown keys {unknown}; expected a subset of {sorted(names)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict (the ``backbone_spec`` dataset)."""
        return dataclasses.asdict(self)

    def weights_identity(self) -> str:
        """``tag:<tag>``, ``sha256:<file hash>`` or ``random:seed=<n>`` for the configured weights."""
        return weights_identity(self.model_name, self.pretrained, self.random_seed)

    def with_id(self) -> BackboneSpec:
        """A copy with ``backbone_id`` computed from the other fields."""
        return dataclasses.replace(self, backbone_id=compute_backbone_id(self))


def compute_backbone_id(spec: BackboneSpec) -> str:
    """``<model_name>-<12 hex>``: a readable, filesystem-safe hash of everything that shapes the features.

    The text-tower *location* (``hf_text_tower``) is left out: it is a machine path, and the tower's weights
    are part of the checkpoint (or of the tag) already.
    """
    payload = {
        "model_name": spec.model_name,
        "weights": spec.weights_identity(),
        "model_config": spec.model_config,
        "preprocess": spec.preprocess,
    }
    if spec.precision != "fp32":  # float32 ids stay those of the specs written before the field existed
        payload["precision"] = spec.precision
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', spec.model_name)}-{digest}"


def weights_identity(model_name: str, pretrained: str | None, random_seed: int) -> str:
    """Identity of the weights: the tag, the checkpoint file's content hash, or the random seed.

    Raises:
        ValueError: ``pretrained`` is neither a known tag of ``model_name`` nor an existing file.
    """
    if pretrained is None:
        return f"random:seed={random_seed}"
    if open_clip.get_pretrained_cfg(model_name, pretrained):
        return f"tag:{pretrained}"
    path = Path(pretrained)
    if path.is_file():
        return f"sha256:{file_sha256(str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)}"
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    raise ValueError(
        f"backbone pretrained={pretrained!r} is neither a pretrained tag of {model_name!r} "
        f"(known tags: {tags}) nor an existing checkpoint file"
    )


@functools.lru_cache(maxsize=64)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file's content (cached per path, size and modification time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
