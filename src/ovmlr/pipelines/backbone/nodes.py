"""Nodes of the ``backbone`` pipeline: the demo backbone (trained once), the backbone spec and its info.

``backbone.kind`` selects the backbone:

* ``demo`` (offline default): the small ViT + frozen MiniLM of :mod:`ovmlr.backbones.demo`, trained on the
  ``pretrain_pool`` once per content key (architecture + training parameters + pool); a later run with the
  same key reuses the saved checkpoint. The spec's ``pretrained`` is that checkpoint file, loaded like any
  local open_clip checkpoint.
* ``open_clip``: ``model_name`` + ``pretrained`` (tag or local file) as given; nothing is trained.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd
import torch

from ovmlr.backbones import BackboneSpec, load_backbone, resolve_device
from ovmlr.backbones.configs import (
    packaged_model_config,
    register_model_config,
    resolve_model_config,
    resolve_text_tower,
    text_tower_reference,
)
from ovmlr.backbones.demo import (
    DemoTrainingConfig,
    DemoTrainingResult,
    create_initial_model,
    train_demo_backbone,
    training_key,
    zero_shot_item_accuracy,
    zero_shot_item_map,
)
from ovmlr.backbones.precision import resolve_precision

logger = logging.getLogger(__name__)

KINDS = ("demo", "open_clip")


def _kind(params: dict[str, Any]) -> str:
    kind = params.get("kind")
    if kind not in KINDS:
        raise ValueError(f"backbone.kind must be one of {KINDS}, got {kind!r}")
    return kind


def _demo_model_config(params: dict[str, Any]) -> dict[str, Any]:
    """The demo architecture: ``backbone.model_config`` or the packaged config named ``model_name``."""
    config = params.get("model_config") or packaged_model_config(params["model_name"])
    if config is None:
        raise ValueError(
            f"backbone.kind=demo: no model_config given and no packaged config named {params['model_name']!r}"
        )
    return config


def checkpoint_summary(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The JSON side of a demo checkpoint (``demo_backbone_config``): everything but the weights.

    The checkpoint holds only deterministic content (no wall time), so retraining the same key on the
    same machine reproduces the file byte for byte, hence the same ``backbone_id`` and embedding cache.
    """
    return dict(checkpoint["ovmlr"])


def fit_demo_backbone(
    pretrain_pool: pd.DataFrame, demo_backbone_previous: dict[str, Any], params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Train the demo backbone, or reuse the saved one trained with the same content key.

    Args:
        pretrain_pool: Single items with ``split`` ``train`` / ``heldout``.
        demo_backbone_previous: The checkpoint currently saved (``{}`` when there is none).
        params: The ``backbone`` parameters.

    Returns:
        ``(checkpoint, config summary, training metrics)``: the checkpoint is ``{"state_dict": …, "ovmlr":
        {model_name, model_config, training_key, training, history}}``, loadable by open_clip; the summary
        adds ``train_seconds`` when trained now; the metrics are the loss history and wall time for MLflow
        (empty when reused). For ``kind: open_clip`` all three are ``{}`` (nothing is trained).
    """
    if _kind(params) != "demo":
        logger.info("backbone.kind=%s: no demo backbone to train", params["kind"])
        return {}, {}, {}
    config = DemoTrainingConfig.from_params(params["demo"]["training"])
    model_config = _demo_model_config(params)
    key = training_key(model_config, config, pretrain_pool)
    if demo_backbone_previous.get("ovmlr", {}).get("training_key") == key:
        logger.info("Demo backbone %s already trained (same architecture, parameters and data): reused", key)
        return demo_backbone_previous, checkpoint_summary(demo_backbone_previous), {}
    device = resolve_device(params["device"])
    register_model_config(
        params["model_name"], resolve_model_config(model_config, params.get("hf_text_tower"))
    )
    model, tokenizer = create_initial_model(params["model_name"], config.seed, device)
    result = train_demo_backbone(model, tokenizer, pretrain_pool, config, device)
    logger.info("Demo backbone %s trained in %.0f s", key, result.train_seconds)
    summary = {
        "model_name": params["model_name"],
        "model_config": model_config,
        "training_key": key,
        "training": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()},
        "history": result.history,
    }
    checkpoint = {"state_dict": result.state_dict, "ovmlr": summary}
    return checkpoint, summary | {"train_seconds": result.train_seconds}, training_metrics(result)


def training_metrics(result: DemoTrainingResult) -> dict[str, Any]:
    """The loss history and wall time as MLflow metric histories."""
    return {
        "loss": [{"step": h["step"], "value": h["loss"]} for h in result.history],
        "train_seconds": {"step": 0, "value": result.train_seconds},
    }


def specify_backbone(params: dict[str, Any], demo_backbone_config: dict[str, Any]) -> dict[str, Any]:
    """The ``backbone_spec``: how every later stage builds the frozen backbone.

    Args:
        params: The ``backbone`` parameters.
        demo_backbone_config: Summary of the demo checkpoint just saved (``kind: demo``); ``{}`` otherwise.

    Returns:
        The spec as a dict (``model_name``, ``pretrained``, ``model_config``, ``hf_text_tower``,
        ``preprocess``, ``allow_random_weights``, ``random_seed``, ``backbone_id``).
    """
    common = {
        "preprocess": dict(params.get("preprocess") or {}),
        "allow_random_weights": bool(params.get("allow_random_weights", False)),
        "random_seed": int(params.get("random_seed", 0)),
        "precision": resolve_precision(
            params.get("precision", "fp32"), resolve_device(params.get("device", "cpu")), "backbone.precision"
        ),
    }
    if _kind(params) == "demo":
        if demo_backbone_config.get("model_name") != params["model_name"]:
            raise ValueError(
                "backbone.kind=demo but the demo checkpoint summary is missing or for another model"
            )
        model_config = demo_backbone_config["model_config"]
        tower = params.get("hf_text_tower") or resolve_text_tower(text_tower_reference(model_config) or "")
        spec = BackboneSpec(
            model_name=params["model_name"],
            pretrained=params["demo"]["checkpoint_path"],
            model_config=model_config,
            hf_text_tower=tower or None,
            **common,
        )
    else:
        spec = BackboneSpec(
            model_name=params["model_name"],
            pretrained=params.get("pretrained"),
            model_config=params.get("model_config"),
            hf_text_tower=params.get("hf_text_tower"),
            **common,
        )
    spec = spec.with_id()
    logger.info("Backbone %s: %s / %s", spec.backbone_id, spec.model_name, spec.pretrained)
    return spec.to_dict()


def describe_backbone(backbone_spec: dict[str, Any], device: str) -> dict[str, Any]:
    """The ``backbone_info`` dataset of the frozen backbone.

    Keys: ``backbone_id``, ``model_name``, ``embed_dim`` (D), ``num_patches`` (P), ``logit_scale``,
    ``image_size`` ([H, W]).
    The logit scale is ``exp(model.logit_scale)`` (CLIP's softmax temperature inverse), the trainer's
    default ISR temperature.
    """
    loaded = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(device))
    visual = loaded.model.visual
    grid = getattr(visual, "grid_size", None)
    if grid is None:
        raise TypeError(
            f"backbone {backbone_spec['model_name']}: the image tower has no patch grid (not a ViT)"
        )
    return {
        "backbone_id": backbone_spec["backbone_id"],
        "model_name": backbone_spec["model_name"],
        "embed_dim": int(visual.output_dim),
        "num_patches": int(math.prod(grid)),
        "logit_scale": float(loaded.model.logit_scale.exp().item()),
        "image_size": [int(s) for s in visual.image_size],
    }


def evaluate_item_zero_shot(
    backbone_spec: dict[str, Any], pretrain_pool: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Zero-shot quality of the backbone on the held-out items of the pretraining pool (MLflow metrics):
    accuracy for single-class items, mAP over the vocabulary (and its chance level) for tagged items.

    Returns ``{}`` when the pool is empty (datasets with a real CLIP have none).
    """
    if pretrain_pool.empty:
        logger.info("pretrain_pool is empty: no single-item zero-shot accuracy")
        return {}
    loaded = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(params["device"]))
    zs = params["zero_shot"]
    args = (loaded.model, loaded.tokenizer, pretrain_pool, zs["templates"])
    options = {"canvas_grid": zs["canvas_grid"], "seed": zs["seed"], "batch_size": zs["batch_size"]}
    with torch.inference_mode():
        if is_multi_tag(pretrain_pool):
            value, chance = zero_shot_item_map(*args, **options, device=loaded.device)
            logger.info("Backbone zero-shot mAP on held-out items: %.4f (chance %.4f)", value, chance)
            return {"mAP": {"step": 0, "value": value}, "chance_mAP": {"step": 0, "value": chance}}
        accuracy = zero_shot_item_accuracy(*args, **options, device=loaded.device)
    chance = 1.0 / pretrain_pool["class_id"].nunique()
    logger.info("Backbone zero-shot accuracy on held-out items: %.4f (chance %.3f)", accuracy, chance)
    return {"accuracy": {"step": 0, "value": accuracy}}


def is_multi_tag(pretrain_pool: pd.DataFrame) -> bool:
    """Whether the pool's items carry tag sets (zero-shot mAP) rather than one class each (accuracy)."""
    return "tags" in pretrain_pool.columns and bool(
        (pretrain_pool["tags"] != pretrain_pool["class_name"]).any()
    )
