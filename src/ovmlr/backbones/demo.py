"""The offline demo backbone: a small ViT trained contrastively against a frozen MiniLM text tower (LiT).

No pretrained CLIP weights exist offline, so the default dataset's backbone is pretrained here, at small
scale, the way CLIP is: image-caption contrastive learning on the ``pretrain_pool`` (items disjoint from the
train, val and test pools) with captions over **all** category names, so that - as CLIP has seen the
unseen categories' concepts on the web - the backbone knows every category before the seen/unseen split of
the downstream task is made.

* Architecture: a packaged open_clip config (``model_configs/``) with all-MiniLM-L6-v2 as a Hugging Face
  text tower. The text transformer is frozen (LiT); only the image tower, the text projection and the logit
  scale are trained. The frozen tower's pooled output of each caption is computed **once**, in batches of
  similar length.
* Images are **canvases drawn as the mosaics are** (:mod:`ovmlr.backbones.canvas`): several items per
  canvas at the mosaics' scale, so that the tower learns to recognise an item among others.
* Each canvas is captioned after one of its items (:mod:`ovmlr.backbones.captions`); a caption is a
  positive of every canvas in the batch that shows what it names (:mod:`ovmlr.backbones.loss`).
* With ``vocabulary_prompts``, each step's texts also hold one prompt of every category of the pool's
  vocabulary, positives of the canvases that show it (:func:`step_texts`). The image tower's cost per step
  is unchanged (the texts are precomputed), and every canvas is then supervised by all of its categories,
  not only by its one caption: at the same wall time this learns several times faster (the recipe's
  ablation in the docs).
* Training runs in bf16 autocast where the CPU (or GPU) has native bf16, else in float32
  (``precision: auto``).

Shapes: B canvases, T captions, W the text transformer's width, D the joint embedding width.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import open_clip
import pandas as pd
import torch
import torch.nn.functional as F
from open_clip.hf_model import HFTextEncoder
from torch import nn

from ovmlr.core.params import known_fields

from .canvas import CanvasConfig, plan_canvases, pool_items, render_canvases, tile_token_index, to_model_input
from .captions import CAPTION_MODES, CaptionBank, build_caption_bank, canvas_tags, caption_positives
from .features import ensemble_text_features, fill_templates
from .loading import quiet_loading
from .loss import MultiPositiveClipLoss, SigmoidPairLoss
from .precision import cpu_bf16_flags

logger = logging.getLogger(__name__)

LOSSES = ("multi_positive", "sigmoid")


@dataclass(frozen=True)
class DemoTrainingConfig:
    """Hyper-parameters of the demo backbone's contrastive pretraining (``backbone.demo.training``)."""

    templates: tuple[str, ...]  # caption templates, each with one "{}" for the tag phrase or class name
    epochs: int = 2  # passes over the pretraining items (each item captions one canvas per pass)
    batch_size: int = 128  # canvases per step
    learning_rate: float = 1e-3  # AdamW peak learning rate (linear warm-up, cosine decay)
    weight_decay: float = 0.05  # AdamW weight decay (not on gains, biases, embeddings, logit scale)
    warmup_steps: int = 50  # linear warm-up steps
    max_items: int | None = None  # use only the first N training items (None: all)
    seed: int = 0  # initialisation, item order, canvases and captions
    text_batch_size: int = 256  # captions per forward pass of the frozen text tower
    captions: str = "class_name"  # class_name: template(class); tags: template(item's tags or title)
    captions_per_item: int = 4  # captions: tags: fixed captions drawn per item, one picked at each step
    loss: str = "multi_positive"  # multi_positive (InfoNCE, soft targets) | sigmoid (SigLIP)
    vocabulary_prompts: bool = True  # add a prompt of every category to each step's texts (see module doc)
    init: str = "default"  # default (open_clip's) | mimetic (attention heads, :func:`mimetic_init`)
    tile_steps: float = 0.0  # share of the steps (the first ones) that see only the captioned item's tile
    init_logit_scale: float = 10.0  # s at the start (exp of the learned log-scale); clamped to <= 100
    precision: str = "auto"  # auto: bf16 autocast where native (AMX / AVX512-BF16 / CUDA), else fp32
    canvas: CanvasConfig = field(default_factory=CanvasConfig)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DemoTrainingConfig:
        """From the ``backbone.demo.training`` parameters (unknown keys are an error)."""
        values = known_fields(params, (f.name for f in fields(cls)), "backbone.demo.training")
        values["templates"] = tuple(values.get("templates") or ())
        fill_templates(values["templates"], ["x"])  # validates the templates
        values["canvas"] = CanvasConfig(**dict(values.get("canvas") or {}))
        for key, allowed in (
            ("init", ("default", "mimetic")),
            ("captions", CAPTION_MODES),
            ("loss", LOSSES),
            ("precision", ("auto", "fp32", "bf16")),
        ):
            if values.get(key, getattr(cls, key)) not in allowed:
                raise ValueError(
                    f"backbone.demo.training.{key} must be one of {allowed}, got {values[key]!r}"
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))


@dataclass
class DemoTrainingResult:
    """What a training run produced."""

    state_dict: dict[str, torch.Tensor]  # full open_clip state dict, CPU
    history: list[dict[str, float]] = field(default_factory=list)  # per logged step: step, loss, logit_scale
    train_seconds: float = 0.0  # wall time of the training loop (caption encoding included)
    precision: str = "fp32"  # what the loop ran in


def training_key(
    model_config: dict[str, Any], config: DemoTrainingConfig, pretrain_pool: pd.DataFrame
) -> str:
    """Content key of a training run: architecture + hyper-parameters + the pretraining items.

    Two runs with the same key would train the same backbone, so the second one can reuse the first's
    checkpoint.
    """
    digest = hashlib.sha256(recipe_json(model_config, config).encode())
    for column in ("item_id", "class_id", "split"):
        digest.update("\x1f".join(pretrain_pool[column].astype(str)).encode())
    for pixels in pretrain_pool["pixels"]:
        digest.update(pixels)
    return digest.hexdigest()[:16]


def recipe_json(model_config: dict[str, Any], config: DemoTrainingConfig) -> str:
    """The recipe (architecture + training hyper-parameters) as canonical JSON."""
    return json.dumps({"model": model_config, "training": config.to_dict()}, sort_keys=True)


def pool_vocabulary(pretrain_pool: pd.DataFrame) -> list[str]:
    """Every category name of the pool (``tags``, else ``class_name``), sorted, unseen included."""
    if "tags" in pretrain_pool.columns and is_multi_tag(pretrain_pool):
        return sorted({t for tags in pretrain_pool["tags"] for t in str(tags).split("|") if t})
    return sorted(pretrain_pool["class_name"].astype(str).unique())


def is_multi_tag(pretrain_pool: pd.DataFrame) -> bool:
    """Whether the pool's items carry tag sets rather than one class name each."""
    return "tags" in pretrain_pool.columns and bool(
        (pretrain_pool["tags"] != pretrain_pool["class_name"]).any()
    )


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
    ``HFTextEncoder.forward``), so captions are encoded once instead of at every step: each distinct
    caption once, in batches of captions of similar length, each batch cut to its longest caption.

    Shapes:
        captions ``T`` -> ``[T, W]``, float32 on ``device``.
    """
    text = text_tower(model)
    unique, inverse = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
    by_length = np.argsort([len(c) for c in unique], kind="stable")
    pooled = torch.empty(len(unique), text.config.hidden_size, device=device)
    for start in range(0, len(unique), batch_size):
        rows = by_length[start : start + batch_size]
        tokens = tokenizer(unique[rows].tolist()).to(device)
        mask = (tokens != text.config.pad_token_id).long()
        width = int(mask.sum(dim=1).max())  # padding beyond the longest caption changes nothing (masked)
        out = text.transformer(input_ids=tokens[:, :width], attention_mask=mask[:, :width])
        pooled[torch.from_numpy(rows).to(device)] = text.pooler(out, mask[:, :width]).float()
    return pooled[torch.from_numpy(inverse.reshape(-1)).to(device)]


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


def training_precision(requested: str, device: torch.device) -> str:
    """``bf16`` (autocast) where the device computes it natively, else ``fp32``; an explicit choice stays."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16_flags() else "fp32"


def preprocess_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the model's open_clip preprocessing."""
    cfg = model.visual.preprocess_cfg
    return tuple(cfg["mean"]), tuple(cfg["std"])


def canvas_batch(
    model: nn.Module, items: np.ndarray, layout: np.ndarray, canvas: CanvasConfig, rng: np.random.Generator
) -> torch.Tensor:
    """Normalised canvases ``[B, 3, H, W]`` of ``layout``, checked against the model's input size."""
    pixels = render_canvases(items, layout, canvas, rng)
    side = model.visual.image_size[0]
    if pixels.shape[1:3] != (side, side):
        raise ValueError(
            f"canvases are {pixels.shape[1]}x{pixels.shape[2]} (canvas grid × tile size) but the model "
            f"{model.visual.image_size} expects {side}x{side}: match backbone.demo.training.canvas to the "
            "mosaics"
        )
    return to_model_input(pixels, *preprocess_stats(model)).contiguous(memory_format=torch.channels_last)


def train_demo_backbone(
    model: nn.Module,
    tokenizer: Any,
    pretrain_pool: pd.DataFrame,
    config: DemoTrainingConfig,
    device: torch.device,
) -> DemoTrainingResult:
    """Contrastive LiT pretraining of ``model`` on the pool's ``train`` items (the model is trained in place).

    Returns:
        The trained state dict (CPU), the loss history, the wall time and the precision used.
    """
    start = time.perf_counter()
    rows = pretrain_pool[pretrain_pool["split"] == "train"]
    items, _ = pool_items(pretrain_pool, "train")
    if config.max_items is not None:
        items, rows = items[: config.max_items], rows.iloc[: config.max_items]
    bank = build_caption_bank(
        rows,
        config.templates,
        config.captions_per_item,
        config.captions,
        np.random.default_rng([config.seed, 1]),
    )
    model.to(device)
    model.visual.to(memory_format=torch.channels_last)  # convolutions run faster so (oneDNN); ViTs: no change
    texts = list(bank.texts) + fill_templates(config.templates, bank.vocabulary)  # captions, then prompts
    pooled = pooled_caption_features(model, tokenizer, texts, config.text_batch_size, device)  # [T, W]
    logger.info(
        "Demo backbone: %d captions of %d items and %d category prompts encoded once by the text tower",
        len(bank.texts),
        len(items),
        len(texts) - len(bank.texts),
    )
    with torch.no_grad():
        model.logit_scale.fill_(math.log(config.init_logit_scale))
    if config.init == "mimetic":
        mimetic_init(model.visual, config.seed)
    precision = training_precision(config.precision, device)
    history = _fit(model, items, bank, pooled, config, device, precision)
    model.eval().requires_grad_(False)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return DemoTrainingResult(state, history, time.perf_counter() - start, precision)


@dataclass
class _Trainer:
    """The optimiser state of one pretraining run (built by :func:`_trainer`)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    bias: nn.Parameter | None  # SigLIP's learned logit bias (sigmoid loss only; not part of the model)
    precision: str

    def step(
        self,
        images: torch.Tensor,
        text_rows: torch.Tensor,
        pooled: torch.Tensor,
        positives: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> tuple[float, float]:
        """One optimisation step (only on the ``keep`` patch tokens if given); returns (loss, logit scale)."""
        with (
            torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"),
            kept_tokens(self.model.visual, keep),
        ):
            image_f = self.model.encode_image(images, normalize=True).float()  # [B, D]
            text_f = F.normalize(self.model.text.proj(pooled[text_rows]).float(), dim=-1)  # [T, D]
        scale = self.model.logit_scale.exp()
        extra = () if self.bias is None else (self.bias,)
        loss = self.loss_fn(image_f, text_f, scale, *extra, positives)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, math.log(100))  # as open_clip's training does
        return float(loss.detach()), float(scale.detach())


def _trainer(model: nn.Module, config: DemoTrainingConfig, device: torch.device, precision: str) -> _Trainer:
    """AdamW over the trainable parameters (weight decay on matrices only) and the configured loss."""
    decay, no_decay = trainable_parameters(model)
    bias = nn.Parameter(torch.tensor(-10.0, device=device)) if config.loss == "sigmoid" else None
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay + ([bias] if bias is not None else []), "weight_decay": 0.0},
    ]
    loss_fn = SigmoidPairLoss() if bias is not None else MultiPositiveClipLoss()
    return _Trainer(model.train(), torch.optim.AdamW(groups), loss_fn, bias, precision)


def _fit(
    model: nn.Module,
    items: np.ndarray,
    bank: CaptionBank,
    pooled: torch.Tensor,
    config: DemoTrainingConfig,
    device: torch.device,
    precision: str,
) -> list[dict[str, float]]:
    """The training loop; returns one history entry every 20 steps (and at the last)."""
    rng = np.random.default_rng(config.seed)
    trainer = _trainer(model, config, device, precision)
    total = math.ceil(len(items) / config.batch_size) * config.epochs
    history, step = [], 0
    for epoch in range(config.epochs):
        order = rng.permutation(len(items))
        for start in range(0, len(items), config.batch_size):
            captioned = order[start : start + config.batch_size]
            tile_only = step < config.tile_steps * total
            images, rows, positives, keep = _batch(model, items, bank, captioned, config, tile_only, rng)
            for group in trainer.optimizer.param_groups:
                group["lr"] = learning_rate_at(step, total, config)
            loss, scale = trainer.step(images.to(device), rows.to(device), pooled, positives.to(device), keep)
            step += 1
            if step % 20 == 0 or step == total:
                history.append({"step": step, "epoch": epoch, "loss": loss, "logit_scale": scale})
                logger.info("Demo backbone step %d/%d: loss %.4f, logit scale %.1f", step, total, loss, scale)
    return history


def _batch(
    model: nn.Module,
    items: np.ndarray,
    bank: CaptionBank,
    captioned: np.ndarray,
    config: DemoTrainingConfig,
    tile_only: bool,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(images, text rows, positives, kept tokens)`` of one step.

    A tile step (``tile_only``) draws each captioned item alone on its tile and keeps only that tile's
    patch tokens (and the class token): the tower sees the item at the mosaics' scale and position, at a
    quarter of a full canvas's cost. Other steps draw full canvases and keep every token.
    """
    layout, where = plan_canvases(captioned, len(items), config.canvas, rng)
    keep = None
    if tile_only:
        layout = np.full_like(layout, -1)
        layout[np.arange(len(captioned)), where] = captioned
        patch_grid = model.visual.grid_size[0]
        keep = torch.from_numpy(tile_token_index(where, config.canvas.grid, patch_grid))
    captions = bank.of_item[captioned, rng.integers(0, bank.of_item.shape[1], size=len(captioned))]
    rows, positives = step_texts(
        bank, captions, layout, len(config.templates), config.vocabulary_prompts, rng
    )
    images = canvas_batch(model, items, layout, config.canvas, rng)
    return images, torch.from_numpy(rows), torch.from_numpy(positives), keep


class _KeptTokens(nn.Module):
    """Stands in for a ViT's patch dropout: keeps the class token and the given patch tokens."""

    def __init__(self, keep: torch.Tensor) -> None:
        super().__init__()
        self.keep = keep  # [B, k] patch indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1 + P, W] -> [B, 1 + k, W]
        index = self.keep.to(x.device)[..., None].expand(-1, -1, x.shape[-1])
        return torch.cat([x[:, :1], x[:, 1:].gather(1, index)], dim=1)


class kept_tokens:  # noqa: N801 - a context manager, named as one
    """Within the block, the image tower runs on the ``keep`` patch tokens only (``None``: all of them)."""

    def __init__(self, visual: nn.Module, keep: torch.Tensor | None) -> None:
        self.visual, self.keep, self.saved = visual, keep, None

    def __enter__(self) -> None:
        if self.keep is not None:
            self.saved = self.visual.patch_dropout
            self.visual.patch_dropout = _KeptTokens(self.keep)

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            self.visual.patch_dropout = self.saved


def step_texts(
    bank: CaptionBank,
    captions: np.ndarray,
    layout: np.ndarray,
    n_templates: int,
    vocabulary_prompts: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The texts of one step (rows of the pooled features) and their positives.

    The B captions drawn for the canvases, then, with ``vocabulary_prompts``, one prompt of every category
    (a template drawn at random per category; rows after the captions, template-major): a category prompt
    describes every canvas showing that category, so each step also ranks the batch's canvases for every
    category of the vocabulary, which is what zero-shot recognition does.

    Shapes:
        captions ``[B]``, layout ``[B, G]`` -> texts ``[B + V]`` (or ``[B]``), positives ``[B, B + V]``.
    """
    positives = caption_positives(bank, captions, layout)
    if not vocabulary_prompts:
        return captions, positives
    v = len(bank.vocabulary)
    prompts = len(bank.texts) + rng.integers(0, n_templates, size=v) * v + np.arange(v)
    shown = canvas_tags(layout, bank.item_tags)  # [B, V]
    return np.concatenate([captions, prompts]), np.concatenate([positives, shown], axis=1)


@torch.inference_mode()
def heldout_scores(  # noqa: PLR0913 - the check's settings, each named; release.HeldoutCheck bundles them
    model: nn.Module,
    tokenizer: Any,
    pretrain_pool: pd.DataFrame,
    templates: Sequence[str],
    canvas: CanvasConfig,
    num_images: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-shot scores and labels of mosaics drawn from the pool's ``heldout`` items.

    The mosaics are drawn as the dataset's are (each held-out item about equally often, tiles blank with
    the canvas's ``blank_probability``); labels are the union of the items' categories over the pool's
    whole vocabulary; scores are cosines against the prompt ensemble (Eq. 24) of every category.

    Returns:
        ``(scores float32 [M, V], labels int8 [M, V])``.
    """
    from ovmlr.data.mosaic import plan_occupancy

    items, _ = pool_items(pretrain_pool, "heldout")
    rows = pretrain_pool[pretrain_pool["split"] == "heldout"]
    vocabulary = pool_vocabulary(pretrain_pool)
    bank = build_caption_bank(
        rows, ["{}"], 1, "tags" if is_multi_tag(pretrain_pool) else "class_name", np.random.default_rng(0)
    )
    column = [vocabulary.index(name) for name in bank.vocabulary]
    item_tags = np.zeros((len(items), len(vocabulary)), dtype=bool)
    item_tags[:, column] = bank.item_tags
    rng = np.random.default_rng(seed)
    occupied = plan_occupancy(num_images, canvas.grid, canvas.blank_probability, rng)
    needed = int(occupied.sum())
    sequence = np.concatenate([rng.permutation(len(items)) for _ in range(-(-needed // len(items)))])[:needed]
    layout = np.full(occupied.shape, -1, dtype=np.int64)
    layout[occupied] = sequence
    per_template = _encode_names(model, tokenizer, vocabulary, templates, device)
    classifier = ensemble_text_features(per_template)  # [V, D]
    scores = []
    for start in range(0, num_images, batch_size):
        images = canvas_batch(model, items, layout[start : start + batch_size], canvas, rng).to(device)
        scores.append((model.encode_image(images, normalize=True).float() @ classifier.T).cpu().numpy())
    return np.concatenate(scores), canvas_tags(layout, item_tags).astype(np.int8)


def _encode_names(
    model: nn.Module, tokenizer: Any, names: Sequence[str], templates: Sequence[str], device: torch.device
) -> torch.Tensor:
    """``[T, V, D]`` normalised text features of every template and name."""
    tokens = tokenizer(fill_templates(templates, names)).to(device)
    return model.encode_text(tokens, normalize=True).float().reshape(len(templates), len(names), -1)


def heldout_zero_shot_map(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(mAP, chance mAP)`` over the categories with a held-out positive: the mean per-category average
    precision, and the mean positive rate (what random scores give in expectation)."""
    from ovmlr.metrics import mean_average_precision

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


@torch.no_grad()
def mimetic_init(visual: nn.Module, seed: int, qk: float = 0.7, vo: float = 0.4) -> None:
    """Mimetic initialisation of a ViT's attention (Trockman & Kolter, 2023), in place.

    Each head's query-key product is set close to ``α Z + β I`` and its value-output product close to
    ``α Z - β I`` (Z random, scaled by 1/width): the heads start out attending to similar tokens, as trained
    ViTs' heads do, which speeds up training from scratch on small data.

    .. math::
        W_{q,h}^\\top W_{k,h} \\approx \\alpha_1 Z_1 + \\beta_1 I, \\qquad
        W_{v,h}^\\top W_{o,h}^\\top \\approx \\alpha_2 Z_2 - \\beta_2 I

    (rank-``d_h`` truncated SVDs, ``α = β = qk`` and ``vo``).
    """
    generator = torch.Generator().manual_seed(seed)
    for block in visual.transformer.resblocks:
        attn = block.attn
        width, heads = attn.embed_dim, attn.num_heads
        d = width // heads
        w_q, w_k, w_v = attn.in_proj_weight.view(3, width, width)
        for h in range(heads):
            rows = slice(h * d, (h + 1) * d)
            a, b = _factor(qk, qk, width, d, generator)  # [d, W], [d, W]: aᵀ b ≈ α Z + β I
            w_q[rows], w_k[rows] = a, b
            a, b = _factor(vo, -vo, width, d, generator)
            w_v[rows], attn.out_proj.weight[:, rows] = a, b.T


def _factor(alpha: float, beta: float, width: int, rank: int, generator: torch.Generator) -> tuple:
    """``(A [r, W], B [r, W])`` with ``Aᵀ B`` the rank-r truncation of ``α Z + β I``, Z ~ N(0, 1/W)."""
    z = torch.randn(width, width, generator=generator) / math.sqrt(width)
    u, s, vh = torch.linalg.svd(alpha * z + beta * torch.eye(width))
    root = s[:rank].sqrt()[:, None]
    return root * u[:, :rank].T, root * vh[:rank]
