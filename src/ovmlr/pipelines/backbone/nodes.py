"""Nodes of the ``backbone`` pipeline: the demo backbone (trained once), the backbone spec and its info.

``backbone.kind`` selects the backbone:

* ``demo`` (offline default): the small ViT + frozen MiniLM of :mod:`ovmlr.backbones.demo`, trained on the
  ``pretrain_pool`` once per content key (architecture + training parameters + pool); a later run with the
  same key reuses the saved checkpoint. The spec's ``pretrained`` is that checkpoint file, loaded like any
  local open_clip checkpoint.
* ``open_clip``: ``model_name`` + ``pretrained`` (tag or local file) as given; nothing is trained.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd

from ovmlr.backbones import BackboneSpec, load_backbone
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
    recipe_json,
    train_demo_backbone,
    training_key,
)
from ovmlr.backbones.features import output_width, patch_count
from ovmlr.backbones.precision import resolve_precision
from ovmlr.backbones.release import HeldoutCheck, pool_hashes, train_release
from ovmlr.backbones.shipped import ShippedBackbone, ShippedRelease, with_shipped_weights
from ovmlr.core.device import resolve_device

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


def _from_shipped(
    model: Any, shipped: ShippedBackbone, summary: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``fit_demo_backbone``'s outputs from matching shipped weights (the text tower: ``model``'s)."""
    state = with_shipped_weights(model, shipped.state())
    logger.info(
        "Demo backbone %s: the shipped weights (%s; recipe and data match its manifest)",
        summary["training_key"],
        shipped.weights.name,
    )
    summary |= {"source": "shipped", "sha256": shipped.manifest["sha256"], "history": []}
    return {"state_dict": state, "ovmlr": summary}, summary, {}


def fit_demo_backbone(
    pretrain_pool: pd.DataFrame,
    demo_backbone_previous: dict[str, Any],
    shipped_demo_backbone: dict[str, ShippedBackbone],
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The demo backbone: the checkpoint already saved for the same content key, else the shipped weights
    when their manifest matches this recipe and these data, else trained now with the recipe.

    Args:
        pretrain_pool: Items with ``split`` ``train`` / ``heldout``.
        demo_backbone_previous: The checkpoint currently saved (``{}`` when there is none).
        shipped_demo_backbone: The shipped weights by model name (:mod:`ovmlr.backbones.shipped`).
        params: The ``backbone`` parameters.

    Returns:
        ``(checkpoint, config summary, training metrics)``: the checkpoint is ``{"state_dict": …, "ovmlr":
        {model_name, model_config, training_key, training, source, history}}``, loadable by open_clip; the
        summary adds ``train_seconds`` when trained now; the metrics are the loss history and wall time for
        MLflow (empty unless trained now). For ``kind: open_clip`` all three are ``{}``.

    Raises:
        ValueError: The shipped file matches but is corrupt (the message names it).
    """
    if _kind(params) != "demo":
        logger.info("backbone.kind=%s: no demo backbone to train", params["kind"])
        return {}, {}, {}
    config = DemoTrainingConfig.from_params(params["demo"]["training"])
    model_config = _demo_model_config(params)
    key = training_key(model_config, config, pretrain_pool)
    if demo_backbone_previous.get("ovmlr", {}).get("training_key") == key:
        logger.info("Demo backbone %s already built (same architecture, parameters and data): reused", key)
        return demo_backbone_previous, checkpoint_summary(demo_backbone_previous), {}
    device = resolve_device(params["device"])
    register_model_config(
        params["model_name"], resolve_model_config(model_config, params.get("hf_text_tower"))
    )
    model, tokenizer = create_initial_model(params["model_name"], config.seed, device)
    summary = {"model_name": params["model_name"], "model_config": model_config, "training_key": key}
    summary["training"] = config.to_dict()
    shipped = shipped_demo_backbone.get(params["model_name"])
    recipe = json.loads(recipe_json(model_config, config))
    reason = (
        "none is shipped for this model"
        if shipped is None
        else shipped.mismatch(recipe, pool_hashes(pretrain_pool))
    )
    if reason is None:
        return _from_shipped(model, shipped, summary)
    logger.info("Demo backbone %s: shipped weights not used (%s); training with the recipe", key, reason)
    result = train_demo_backbone(model, tokenizer, pretrain_pool, config, device)
    logger.info("Demo backbone %s trained in %.0f s (%s)", key, result.train_seconds, result.precision)
    summary |= {"source": f"trained here ({result.precision})", "history": result.history}
    return (
        {"state_dict": result.state_dict, "ovmlr": summary},
        summary | {"train_seconds": result.train_seconds},
        training_metrics(result),
    )


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
    try:
        num_patches = patch_count(visual)
    except TypeError as exc:
        raise TypeError(f"backbone {backbone_spec['model_name']}: no patch tokens for ISR ({exc})") from exc
    return {
        "backbone_id": backbone_spec["backbone_id"],
        "model_name": backbone_spec["model_name"],
        "embed_dim": output_width(visual),
        "num_patches": num_patches,
        "logit_scale": float(loaded.model.logit_scale.exp().item()),
        "image_size": [int(s) for s in visual.image_size],
    }


def evaluate_item_zero_shot(
    backbone_spec: dict[str, Any], pretrain_pool: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Zero-shot quality of the backbone on mosaics of the pretraining pool's held-out items (MLflow
    metrics): mAP over the whole vocabulary and its chance level (:class:`HeldoutCheck`).

    Returns ``{}`` when the pool is empty (datasets with a real CLIP have none).
    """
    if pretrain_pool.empty:
        logger.info("pretrain_pool is empty: no held-out zero-shot check")
        return {}
    loaded = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(params["device"]))
    canvas = DemoTrainingConfig.from_params(params["demo"]["training"]).canvas
    metrics = heldout_check(params).measure(loaded.model, loaded.tokenizer, pretrain_pool, canvas)
    logger.info(
        "Backbone zero-shot mAP on held-out mosaics: %.4f (chance %.4f)",
        metrics["mAP"],
        metrics["chance_mAP"],
    )
    return {name: {"step": 0, "value": value} for name, value in metrics.items()}


def heldout_check(params: dict[str, Any]) -> HeldoutCheck:
    """The held-out check of ``backbone.zero_shot``."""
    zs = params["zero_shot"]
    return HeldoutCheck(tuple(zs["templates"]), int(zs["images"]), int(zs["seed"]), int(zs["batch_size"]))


def release_demo_backbone(pretrain_pool: pd.DataFrame, params: dict[str, Any]) -> ShippedRelease:
    """``make backbone``: the recipe trained once per ``backbone.release.seeds``, its own seed shipped
    (:func:`ovmlr.backbones.release.train_release`)."""
    if _kind(params) != "demo":
        raise ValueError(f"make backbone releases the demo backbone; backbone.kind is {params['kind']!r}")
    config = DemoTrainingConfig.from_params(params["demo"]["training"])
    model_config = _demo_model_config(params)
    register_model_config(
        params["model_name"], resolve_model_config(model_config, params.get("hf_text_tower"))
    )
    seeds = tuple(int(s) for s in params["release"]["seeds"])
    return train_release(
        params["model_name"], model_config, config, pretrain_pool, heldout_check(params), seeds
    )
