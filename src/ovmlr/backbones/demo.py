"""The offline demo backbone: a small ViT trained contrastively against a frozen MiniLM text tower (LiT).

No pretrained CLIP weights exist offline, so the default dataset's backbone is pretrained here, at small
scale, the way CLIP is: image-caption contrastive learning on single Fashion-MNIST items (the
``pretrain_pool``) with captions from prompt templates over **all** class names, so that - as CLIP has seen
the unseen categories' concepts on the web - the backbone knows every class before the seen/unseen split
of the downstream task is made.

* Architecture: the packaged open_clip config ``ovmlr-demo-vit-p8-56`` (4-layer ViT, width 128, 8×8
  patches of a 56×56 image -> P = 49, D = 128) with all-MiniLM-L6-v2 as a Hugging Face text tower.
* The text transformer is frozen (LiT); only the image tower, the text projection and the logit scale are
  trained. The frozen tower's pooled output of each caption is computed **once** before training.
* Each item is placed on a random tile of a blank 2×2 canvas (:mod:`ovmlr.backbones.canvas`).
* Each item gets one caption, a template drawn at random; items of the same class are all positives of
  each other (:class:`~ovmlr.backbones.loss.MultiPositiveClipLoss`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import open_clip
import pandas as pd
import torch
import torch.nn.functional as F
from open_clip.hf_model import HFTextEncoder
from torch import nn

from .canvas import place_on_canvas, place_rgba_on_canvas, pool_items, to_model_input
from .features import ensemble_text_features, fill_templates
from .loading import quiet_loading
from .loss import MultiPositiveClipLoss

logger = logging.getLogger(__name__)


CAPTION_MODES = ("class_name", "tags")


@dataclass(frozen=True)
class DemoTrainingConfig:
    """Hyper-parameters of the demo backbone's contrastive pretraining (``backbone.demo.training``)."""

    templates: tuple[str, ...]  # caption templates, each with one "{}" for the class name
    epochs: int = 2  # passes over the pretraining items
    batch_size: int = 128  # items per step
    learning_rate: float = 1e-3  # AdamW peak learning rate (linear warm-up, cosine decay)
    weight_decay: float = 0.05  # AdamW weight decay (not on gains, biases, embeddings, logit scale)
    warmup_steps: int = 50  # linear warm-up steps
    max_items: int | None = None  # use only the first N training items (None: all)
    canvas_grid: int = 2  # items are placed on one tile of a canvas_grid × canvas_grid blank canvas
    seed: int = 0  # initialisation, item order, tiles and templates
    text_batch_size: int = 256  # captions per forward pass of the frozen text tower
    captions: str = "class_name"  # class_name: template(class); tags: template(item's tags or title)
    captions_per_item: int = 4  # captions: tags: fixed captions drawn per item, one picked at each step

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DemoTrainingConfig:
        """From the ``backbone.demo.training`` parameters (unknown keys are an error)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"backbone.demo.training: unknown keys {unknown}; known: {sorted(known)}")
        values = dict(params)
        values["templates"] = tuple(values.get("templates") or ())
        fill_templates(values["templates"], ["x"])  # validates the templates
        if values.get("captions", "class_name") not in CAPTION_MODES:
            raise ValueError(
                f"backbone.demo.training.captions must be one of {CAPTION_MODES}, got {values['captions']!r}"
            )
        return cls(**values)


@dataclass
class DemoTrainingResult:
    """What a training run produced."""

    state_dict: dict[str, torch.Tensor]  # full open_clip state dict, CPU
    history: list[dict[str, float]] = field(default_factory=list)  # per logged step: step, loss, logit_scale
    train_seconds: float = 0.0  # wall time of the training loop (caption encoding included)


def training_key(
    model_config: dict[str, Any], config: DemoTrainingConfig, pretrain_pool: pd.DataFrame
) -> str:
    """Content key of a training run: architecture + hyper-parameters + the pretraining items.

    Two runs with the same key would train the same backbone, so the second one can reuse the first's
    checkpoint.
    """
    digest = hashlib.sha256(
        json.dumps({"model": model_config, "training": asdict(config)}, sort_keys=True).encode()
    )
    for column in ("item_id", "class_id", "split"):
        digest.update("\x1f".join(pretrain_pool[column].astype(str)).encode())
    for pixels in pretrain_pool["pixels"]:
        digest.update(pixels)
    return digest.hexdigest()[:16]


def pool_class_names(pretrain_pool: pd.DataFrame) -> list[str]:
    """Class names by ``class_id`` (which must be 0..C-1, one name each)."""
    names = pretrain_pool[["class_id", "class_name"]].drop_duplicates().sort_values("class_id")
    ids = names["class_id"].to_numpy()
    if len(ids) != len(set(ids.tolist())) or not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError(
            f"pretrain_pool class_id values must be 0..C-1 with one class_name each, got {ids[:20]}"
        )
    return names["class_name"].astype(str).tolist()


def pool_vocabulary(pretrain_pool: pd.DataFrame) -> list[str]:
    """Every category name in the pool's ``tags`` column, sorted (the whole vocabulary, unseen included)."""
    return sorted({t for tags in pretrain_pool["tags"] for t in str(tags).split("|") if t})


def tag_phrase(tags: Sequence[str]) -> str:
    """``["a"]`` -> ``a``; ``["a", "b", "c"]`` -> ``a, b and c``."""
    return tags[0] if len(tags) == 1 else f"{', '.join(tags[:-1])} and {tags[-1]}"


def item_captions(
    pretrain_pool: pd.DataFrame, templates: Sequence[str], per_item: int, rng: np.random.Generator
) -> list[str]:
    """``per_item`` captions for every item, item-major (``[N * per_item]``).

    Caption 0 names all of the item's tags; the others a random non-empty subset of them in random order,
    except that the last one is the item's title where it has one (items without tags: the title only).
    Each uses a template drawn at random:
    web captions mention some of what a picture shows, and CLIP learns from such partial descriptions.
    """
    captions = []
    for tags_text, title in zip(pretrain_pool["tags"], pretrain_pool["title"], strict=True):
        tags = [t for t in str(tags_text).split("|") if t]
        for j in range(per_item):
            if not tags or (j == per_item - 1 and per_item > 1 and str(title).strip()):
                subject = " ".join(str(title).lower().split())
            elif j == 0:
                subject = tag_phrase(list(rng.permutation(tags)))
            else:
                size = int(rng.integers(1, len(tags) + 1))
                subject = tag_phrase(list(rng.choice(tags, size=size, replace=False)))
            captions.append(templates[int(rng.integers(len(templates)))].format(subject))
    return captions


def text_tower(model: nn.Module) -> HFTextEncoder:
    """The Hugging Face text tower of a ``CustomTextCLIP``; the demo trainer needs one."""
    text = getattr(model, "text", None)
    if not isinstance(text, HFTextEncoder):
        raise TypeError(f"the demo trainer needs a Hugging Face text tower, got {type(text).__name__}")
    return text


@torch.inference_mode()
def pooled_caption_features(
    model: nn.Module, tokenizer: Any, captions: Sequence[str], batch_size: int, device: torch.device
) -> torch.Tensor:
    """The frozen text transformer's pooled output per caption, before the trained projection.

    ``model.text.proj(pooled)`` equals ``model.encode_text(tokens)`` (same mask and pooler as
    ``HFTextEncoder.forward``), so captions are encoded once instead of at every step; each distinct
    caption once, and only up to the longest caption's length in its batch.

    Shapes:
        captions ``N`` -> ``[N, W]`` (W the text transformer's width), float32 on ``device``.
    """
    text = text_tower(model)
    unique, inverse = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
    chunks = []
    for start in range(0, len(unique), batch_size):
        tokens = tokenizer(unique[start : start + batch_size].tolist()).to(device)
        mask = (tokens != text.config.pad_token_id).long()
        width = int(mask.sum(dim=1).max())  # padding beyond the longest caption changes nothing (masked)
        tokens, mask = tokens[:, :width], mask[:, :width]
        out = text.transformer(input_ids=tokens, attention_mask=mask)
        chunks.append(text.pooler(out, mask).float())
    return torch.cat(chunks)[torch.from_numpy(inverse).to(device)]


def trainable_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Freeze the text transformer (LiT); return (decayed, not decayed) trainable parameters."""
    text = text_tower(model)
    model.requires_grad_(False)
    for module in (model.visual, text.proj):
        module.requires_grad_(True)
    model.logit_scale.requires_grad_(True)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            flat = param.ndim < 2 or "embedding" in name or "logit_scale" in name
            (no_decay if flat else decay).append(param)
    return decay, no_decay


def learning_rate_at(step: int, total: int, config: DemoTrainingConfig) -> float:
    """Linear warm-up to ``learning_rate``, then cosine decay to 0."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _preprocess_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """(mean, std, image side) of the model's open_clip preprocessing."""
    cfg = model.visual.preprocess_cfg
    side = model.visual.image_size[0]
    return tuple(cfg["mean"]), tuple(cfg["std"]), side


def _batch_images(
    model: nn.Module, items: np.ndarray, tiles: np.ndarray, grid: int, rng: np.random.Generator
) -> torch.Tensor:
    """Normalised canvases ``[B, 3, H, W]`` for ``items`` (grey ``[B, h, w]`` or RGBA ``[B, S, S, 4]``)
    placed on ``tiles`` (RGBA: at a random scale and position on a random background, drawn from ``rng``)."""
    mean, std, side = _preprocess_stats(model)
    if items.ndim == 4:
        canvas = place_rgba_on_canvas(items, tiles, grid, side // grid, rng)
    else:
        canvas = place_on_canvas(items, tiles, grid)
    if canvas.shape[1:3] != (side, side):
        raise ValueError(
            f"canvas {canvas.shape[1:]} (canvas_grid={grid} × item size) does not match the model's "
            f"{side}×{side} input"
        )
    return to_model_input(canvas, mean, std)


def train_demo_backbone(
    model: nn.Module,
    tokenizer: Any,
    pretrain_pool: pd.DataFrame,
    config: DemoTrainingConfig,
    device: torch.device,
) -> DemoTrainingResult:
    """Contrastive LiT pretraining of ``model`` on the pool's ``train`` items (the model is trained in place).

    Returns:
        The trained state dict (CPU), the loss history and the wall time.
    """
    start = time.perf_counter()
    items, classes = pool_items(pretrain_pool, "train")
    if config.max_items is not None:
        items, classes = items[: config.max_items], classes[: config.max_items]
    if config.captions == "tags":
        train_rows = pretrain_pool[pretrain_pool["split"] == "train"].iloc[: len(items)]
        rng = np.random.default_rng([config.seed, 1])
        captions = item_captions(train_rows, config.templates, config.captions_per_item, rng)
    else:
        captions = fill_templates(config.templates, pool_class_names(pretrain_pool))
    model.to(device)
    pooled = pooled_caption_features(model, tokenizer, captions, config.text_batch_size, device)  # [T*C, W]
    logger.info("Demo backbone: %d captions encoded once by the frozen text tower", len(captions))
    decay, no_decay = trainable_parameters(model)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
    history = _fit(model, optimizer, items, classes, pooled, config, device)
    model.eval().requires_grad_(False)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return DemoTrainingResult(state_dict=state, history=history, train_seconds=time.perf_counter() - start)


def _contrastive_step(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    pooled: torch.Tensor,
    loss_fn: MultiPositiveClipLoss,
    optimizer: torch.optim.Optimizer,
) -> float:
    """One optimisation step on ``(images [B, 3, H, W], caption ids [B], class ids [B])``; the loss."""
    images, caption, cls = batch
    image_f = model.encode_image(images, normalize=True)  # [B, D]
    text_f = F.normalize(model.text.proj(pooled[caption]), dim=-1)  # [B, D]
    loss = loss_fn(image_f, text_f, model.logit_scale.exp(), cls)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))  # as open_clip's training does
    return float(loss.detach())


def _fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    items: np.ndarray,
    classes: np.ndarray,
    pooled: torch.Tensor,
    config: DemoTrainingConfig,
    device: torch.device,
) -> list[dict[str, float]]:
    """The training loop; returns one history entry every 20 steps (and at the last)."""
    rng = np.random.default_rng(config.seed)
    loss_fn = MultiPositiveClipLoss()
    num_classes = pooled.shape[0] // len(config.templates)
    per_item = config.captions_per_item
    total = math.ceil(len(items) / config.batch_size) * config.epochs
    history, step = [], 0
    model.train()
    for epoch in range(config.epochs):
        order = rng.permutation(len(items))
        for start in range(0, len(items), config.batch_size):
            idx = order[start : start + config.batch_size]
            tiles = rng.integers(0, config.canvas_grid**2, size=len(idx))
            if config.captions == "tags":  # pooled is item-major: [N * per_item, W]
                caption = idx * per_item + rng.integers(0, per_item, size=len(idx))
            else:  # pooled is template-major: [T * C, W]
                caption = rng.integers(0, len(config.templates), size=len(idx)) * num_classes + classes[idx]
            images = _batch_images(model, items[idx], tiles, config.canvas_grid, rng).to(device)
            batch = (images, torch.from_numpy(caption).to(device), torch.from_numpy(classes[idx]).to(device))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, total, config)
            loss = _contrastive_step(model, batch, pooled, loss_fn, optimizer)
            step += 1
            if step % 20 == 0 or step == total:
                scale = float(model.logit_scale.detach().exp())
                history.append({"step": step, "epoch": epoch, "loss": loss, "logit_scale": scale})
                logger.info("Demo backbone step %d/%d: loss %.4f", step, total, loss)
    return history


@torch.inference_mode()
def _heldout_scores(
    model: nn.Module,
    tokenizer: Any,
    items: np.ndarray,
    names: Sequence[str],
    templates: Sequence[str],
    canvas_grid: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Cosine scores ``[N, C]`` of held-out items (each on a seeded random tile) against the prompt
    ensemble (Eq. 24) of every name."""
    prompts = fill_templates(templates, names)
    tokens = tokenizer(prompts).to(device)
    per_template = model.encode_text(tokens, normalize=True).float().reshape(len(templates), len(names), -1)
    classifier = ensemble_text_features(per_template)  # [C, D]
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, canvas_grid**2, size=len(items))
    scores = []
    for start in range(0, len(items), batch_size):
        stop = start + batch_size
        images = _batch_images(model, items[start:stop], tiles[start:stop], canvas_grid, rng)
        image_f = model.encode_image(images.to(device), normalize=True).float()
        scores.append((image_f @ classifier.T).cpu().numpy())
    return np.concatenate(scores)


def zero_shot_item_accuracy(
    model: nn.Module,
    tokenizer: Any,
    pretrain_pool: pd.DataFrame,
    templates: Sequence[str],
    canvas_grid: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> float:
    """Zero-shot accuracy on the pool's ``heldout`` items (single-class pools).

    The classifier is the prompt ensemble (Eq. 24) of every class name; the prediction is the class whose
    ensembled text feature has the highest cosine similarity with the image feature.
    """
    items, classes = pool_items(pretrain_pool, "heldout")
    names = pool_class_names(pretrain_pool)
    scores = _heldout_scores(model, tokenizer, items, names, templates, canvas_grid, seed, batch_size, device)
    return float((scores.argmax(axis=1) == classes).mean())


def zero_shot_item_map(
    model: nn.Module,
    tokenizer: Any,
    pretrain_pool: pd.DataFrame,
    templates: Sequence[str],
    canvas_grid: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> tuple[float, float]:
    """Zero-shot mAP over the whole vocabulary on the pool's ``heldout`` items (multi-tag pools).

    Returns:
        ``(mAP, chance mAP)``: the mean over categories with a held-out positive of the average precision,
        and the same mean of each category's positive rate (what random scores give in expectation).
    """
    from ovmlr.metrics import mean_average_precision

    items, _ = pool_items(pretrain_pool, "heldout")
    names = pool_vocabulary(pretrain_pool)
    column = {name: c for c, name in enumerate(names)}
    rows = pretrain_pool[pretrain_pool["split"] == "heldout"]
    labels = np.zeros((len(rows), len(names)), dtype=np.int8)
    for r, tags in enumerate(rows["tags"]):
        labels[r, [column[t] for t in str(tags).split("|") if t]] = 1
    scores = _heldout_scores(model, tokenizer, items, names, templates, canvas_grid, seed, batch_size, device)
    present = labels.sum(axis=0) > 0
    chance = float(labels[:, present].mean(axis=0).mean())
    return mean_average_precision(scores[:, present], labels[:, present]), chance


def create_initial_model(model_name: str, seed: int, device: torch.device) -> tuple[nn.Module, Any]:
    """A registered architecture with a random image tower and its pretrained HF text tower, + tokenizer.

    The image tower is drawn from ``seed`` without touching the global RNG state.
    """
    with torch.random.fork_rng(devices=[]), quiet_loading():
        torch.manual_seed(seed)
        model = open_clip.create_model(model_name, pretrained=None, device=device)
        tokenizer = open_clip.get_tokenizer(model_name)
    return model, tokenizer
