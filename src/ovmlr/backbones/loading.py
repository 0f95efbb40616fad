"""Building a backbone from its spec with open_clip: weights, preprocessing, tokenizer, device.

Everything goes through ``open_clip.create_model_and_transforms`` / ``open_clip.get_tokenizer``; nothing here
re-implements CLIP. Pretrained tags are fetched first so that a missing network fails fast with a message
naming the tag and how to use a local file instead, and random weights are only ever used when the spec
explicitly allows them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from .configs import packaged_model_config, register_model_config, resolve_model_config
from .precision import precision_dtype, resolve_precision
from .spec import BackboneSpec

logger = logging.getLogger(__name__)

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class BackboneWeightsUnavailable(RuntimeError):
    """The configured pretrained weights cannot be obtained (no network, unknown file, …)."""


@dataclass
class LoadedBackbone:
    """A frozen open_clip model with its preprocessing and tokenizer.

    Attributes:
        model: The CLIP model, in eval mode, ``requires_grad`` off, on ``device``.
        preprocess: open_clip's inference transform (PIL image -> ``[3, H, W]`` tensor).
        preprocess_train: open_clip's training transform (with its default augmentation).
        tokenizer: open_clip tokenizer of the model (list of strings -> ``[N, L]`` token ids).
        spec: The spec the model was built from.
        device: Where the model lives.
    """

    model: nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    preprocess_train: Callable[[Any], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]
    spec: BackboneSpec
    device: torch.device


def hub_offline() -> bool:
    """Whether Hugging Face downloads are disabled (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in _OFFLINE_VARS)


def register_spec_config(spec: BackboneSpec) -> None:
    """Register the spec's custom (or packaged) architecture with open_clip, text tower resolved."""
    model_config = spec.model_config or packaged_model_config(spec.model_name)
    if model_config is not None:
        register_model_config(spec.model_name, resolve_model_config(model_config, spec.hf_text_tower))


def fetch_pretrained(model_name: str, tag: str) -> str:
    """Local file of a pretrained tag, downloading it if needed; fails fast instead of hanging.

    Raises:
        BackboneWeightsUnavailable: The tag's weights are neither cached nor downloadable.
    """
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    advice = (
        f"Could not obtain the pretrained weights {model_name!r} / pretrained={tag!r}{{why}}. "
        "Without network access, download the checkpoint elsewhere and set `backbone.pretrained` to the "
        "local file path (e.g. in conf/local/parameters_backbone.yml); or run with network access "
        "(HF_HUB_OFFLINE unset)."
    )
    url_only = bool(cfg.get("url")) and not cfg.get("hf_hub")
    if url_only and hub_offline():
        cached = Path("~/.cache/clip").expanduser() / os.path.basename(cfg["url"])
        if not cached.is_file():
            raise BackboneWeightsUnavailable(advice.format(why=f": offline and {cached} is not cached"))
    try:
        return open_clip.download_pretrained(cfg)
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        why = " (HF_HUB_OFFLINE is set and they are not cached)" if hub_offline() else ""
        raise BackboneWeightsUnavailable(advice.format(why=f"{why}: {exc}")) from exc


def _creation_kwargs(spec: BackboneSpec) -> dict[str, Any]:
    """``pretrained`` and the open_clip keyword arguments for ``spec`` (weights fetched first)."""
    kwargs: dict[str, Any] = dict(spec.preprocess)
    if spec.pretrained is None:
        if not spec.allow_random_weights:
            raise BackboneWeightsUnavailable(
                f"backbone {spec.model_name!r} has pretrained=None: set a pretrained tag or checkpoint file, "
                "or allow_random_weights: true to use random weights on purpose"
            )
        logger.warning(
            "!!! backbone %s uses RANDOM WEIGHTS (seed %d), as allowed by allow_random_weights: its features "
            "carry no pretrained knowledge !!!",
            spec.model_name,
            spec.random_seed,
        )
        return kwargs
    tag_cfg = open_clip.get_pretrained_cfg(spec.model_name, spec.pretrained)
    if tag_cfg:
        fetch_pretrained(spec.model_name, spec.pretrained)
        model_cfg = open_clip.get_model_config(spec.model_name) or {}
        if tag_cfg.get("quick_gelu", False) and not model_cfg.get("quick_gelu", False):
            logger.info(
                "Tag %r was trained with QuickGELU: building %s with it", spec.pretrained, spec.model_name
            )
            kwargs["force_quick_gelu"] = True
    elif not Path(spec.pretrained).is_file():
        raise BackboneWeightsUnavailable(
            f"backbone pretrained={spec.pretrained!r} is neither a tag of {spec.model_name!r} "
            f"({open_clip.list_pretrained_tags_by_model(spec.model_name)}) nor an existing checkpoint file"
        )
    kwargs["pretrained"] = spec.pretrained
    return kwargs


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence third-party load chatter: open_clip's INFO lines on the root logger, and transformers'
    per-load "LOAD REPORT" table and weight-loading progress bar (an HF text tower's unused pooler weights
    are expected). Warnings of open_clip and errors of both still show."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # no Hugging Face tower possible
        hf_logging = None
    previous_disable = logging.root.manager.disable
    logging.disable(logging.INFO)
    if hf_logging is not None:
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.disable(previous_disable)
        if hf_logging is not None:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()


def load_backbone(
    spec: BackboneSpec, device: str | torch.device = "cpu", precision: str | None = None
) -> LoadedBackbone:
    """Build the frozen backbone of ``spec`` on ``device``, in ``spec.precision`` (or ``precision``: the
    fine-tuning student keeps float32 weights whatever the features were extracted in).

    Random weights (``pretrained=None`` with ``allow_random_weights``) are drawn from ``spec.random_seed``
    without touching the global RNG state.

    Raises:
        BackboneWeightsUnavailable: Missing weights (see :func:`fetch_pretrained`), or random weights
            without ``allow_random_weights``.
    """
    device = torch.device(device)
    dtype = precision_dtype(resolve_precision(precision or spec.precision, device, "backbone precision"))
    register_spec_config(spec)
    kwargs = _creation_kwargs(spec)
    with torch.random.fork_rng(devices=[]), quiet_loading():
        torch.manual_seed(spec.random_seed)
        model, preprocess_train, preprocess = open_clip.create_model_and_transforms(
            spec.model_name, device=device, **kwargs
        )
        tokenizer = open_clip.get_tokenizer(spec.model_name)
    model.eval().requires_grad_(False)
    if dtype != torch.float32:
        model.to(dtype)  # pure reduced precision (the precision module says why not autocast)
    return LoadedBackbone(model, preprocess, preprocess_train, tokenizer, spec, device)
