"""Build a C²SRT head from parameters: pick a JSON config by name, override fields, fill backbone facts."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch

from ovmlr.models import C2SRT, config_from_dict, config_to_dict, load_model_config

logger = logging.getLogger(__name__)


def resolve_model_config(model_params: dict[str, Any], backbone_info: dict[str, Any]) -> dict[str, Any]:
    """The model config dict for this backbone.

    ``model_params``: ``config`` (a model config name), ``overrides`` (C2SRTConfig fields) and ``alignment``
    (``cosine`` | ``pico``, the project's switch; ``overrides.alignment`` wins over it).

    ``isr.temperature: null`` becomes the backbone's CLIP logit scale (the temperature CLIP itself uses to
    turn cosines into a softmax; with raw cosines in [-1, 1] the patch softmax would be nearly flat).

    Raises:
        ValueError: If the config's ``embed_dim`` differs from the backbone's feature dimension.
    """
    overrides = dict(model_params.get("overrides") or {})
    if model_params.get("alignment") is not None:  # the project-wide switch; an explicit override wins
        overrides.setdefault("alignment", model_params["alignment"])
    config = load_model_config(model_params["config"], overrides)
    if config.embed_dim != int(backbone_info["embed_dim"]):
        raise ValueError(
            f"model config '{model_params['config']}' has embed_dim={config.embed_dim} but the backbone "
            f"'{backbone_info.get('backbone_id')}' gives {backbone_info['embed_dim']}-d features; "
            "set training.model.overrides.embed_dim or pick a matching config"
        )
    if config.isr.temperature is None:
        temperature = float(backbone_info["logit_scale"])
        config = replace(config, isr=replace(config.isr, temperature=temperature))
        logger.info("ISR softmax temperature = backbone logit scale %.2f", temperature)
    return config_to_dict(config)


def build_model(model_config: dict[str, Any], seed: int = 0) -> C2SRT:
    """A freshly initialised C²SRT head; the initialisation depends only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return C2SRT(config_from_dict(model_config))
