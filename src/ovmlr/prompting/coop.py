r"""CoOp prompt tuning (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022).

Table 5 of the paper compares three ways of writing the category text features :math:`f_{txt}^{(c)}`: one
hand-written template, the prompt ensemble (Eq. 24) and *prompt tuning*. Prompt tuning replaces the words
of the template by :math:`M` learnable context vectors shared by all categories,

.. math::
    t_c = [\text{SOS}]\,[V]_1 [V]_2 \dots [V]_M\, [\text{CLASS}_c]\, .\, [\text{EOS}], \qquad
    f_{txt}^{(c)} = \frac{\Phi_T(t_c)}{\lVert \Phi_T(t_c) \rVert}

where :math:`[V]_m \in \mathbb{R}^W` live in the *input* token-embedding space of the text tower
:math:`\Phi_T` (width :math:`W`) and :math:`[\text{CLASS}_c]` are the frozen embeddings of the name's
tokens. Only :math:`[V]_{1..M}` are trained, on the **seen** categories, with the text tower frozen; because
the context is shared, any name (an unseen one included) gets a feature by the same formula.

The frozen tower must read embeddings instead of token ids, which open_clip's ``encode_text`` cannot. Two
adapters re-run its text path from the embeddings on, and are checked against ``encode_text`` in the tests:

* :class:`NativeTextTower`: open_clip's own text transformer (``CLIP``, whose text modules sit on the model,
  or ``CustomTextCLIP.text``): ``token_embedding`` lookup, then ``+ positional_embedding``, the causal
  transformer, ``ln_final``, the pooling of ``text_global_pool`` (EOT by argmax of the ids for CLIP) and
  ``text_projection``. The context slots carry the start token's id, so the ids still pool at the EOT.
* :class:`HFTextTower`: open_clip's ``HFTextEncoder``: the Hugging Face model's input embeddings
  (``get_input_embeddings()``), then the model called with ``inputs_embeds`` (it adds its own position and
  token-type embeddings), the attention mask of the non-pad ids, the tower's pooler and ``proj``.

Shapes: N images, S seen categories, C categories, M context vectors, W text-tower width, L tokens per
prompt, D joint image-text dimension.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.hf_model import HFTextEncoder
from open_clip.transformer import TextTransformer, text_global_pool
from torch import Tensor, nn

from ovmlr.core.params import known_fields
from ovmlr.models import ranking_loss

logger = logging.getLogger(__name__)

Tokenizer = Callable[[list[str]], Tensor]

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")
COOP_LOSSES = ("ranking", "bce")


@dataclass(frozen=True)
class CoOpConfig:
    """Hyper-parameters of CoOp prompt tuning (defaults: CoOp's, with a multi-label loss).

    The loss acts on the logits :math:`s \\cdot \\cos(f_{img}, f_{txt}^{(c)})` of every seen category:
    ``"ranking"`` is Eq. (11) (:func:`ovmlr.models.ranking_loss`: positives above negatives by ``margin``,
    labels ``-1`` ignored), ``"bce"`` the binary cross-entropy of each known label (CoOp's softmax
    cross-entropy assumes one label per image). :math:`s` is ``logit_scale``, or the backbone's own
    ``exp(logit_scale)`` (100 for CLIP) when ``None``.
    """

    n_ctx: int = 4  # M: learnable context vectors
    init: str | None = "a photo of a"  # init text (must tokenise to n_ctx tokens); None: N(0, 0.02²)
    class_token_position: str = (
        "end"  # where the name sits: after ("end"), inside ("middle") or before the context
    )
    epochs: int = 10  # passes over the training images
    lr: float = 0.002  # SGD learning rate (cosine-annealed to 0 over all steps)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # SGD weight decay on the context
    batch_size: int = 32  # images per step
    seed: int = 0  # random initialisation (init None) and image order
    loss: str = "ranking"  # "ranking" (Eq. 11) or "bce" (see the class docstring)
    margin: float = 1.0  # ranking-loss margin, on the scaled cosines
    logit_scale: float | None = None  # s; None: the backbone's exp(logit_scale)

    def __post_init__(self) -> None:
        if self.n_ctx < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"coop n_ctx, epochs and batch_size must be >= 1, got {self}")
        if self.class_token_position not in CLASS_TOKEN_POSITIONS:
            raise ValueError(
                f"coop.class_token_position must be one of {CLASS_TOKEN_POSITIONS}, "
                f"got {self.class_token_position!r}"
            )
        if self.loss not in COOP_LOSSES:
            raise ValueError(f"coop.loss must be one of {COOP_LOSSES}, got {self.loss!r}")
        if self.lr <= 0 or (self.logit_scale is not None and self.logit_scale <= 0):
            raise ValueError(f"coop.lr and coop.logit_scale must be > 0, got {self.lr}, {self.logit_scale}")
        if self.init is not None and not self.init.strip():
            raise ValueError("coop.init must be a non-empty text or null")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CoOpConfig:
        """From Kedro parameters (unknown keys are an error)."""
        return cls(**known_fields(params, (f.name for f in fields(cls)), "ablation.coop"))


class NativeTextTower:
    """open_clip's own text transformer, fed token embeddings (see the module docstring).

    Args:
        model: A ``CLIP`` (text modules on the model) or a ``CustomTextCLIP`` whose ``.text`` is a
            ``TextTransformer`` without a CoCa class token or padding mask.
    """

    def __init__(self, model: nn.Module) -> None:
        text = getattr(model, "text", model)
        if isinstance(text, TextTransformer) and (text.cls_emb is not None or text.use_pad_mask):
            raise TypeError("CoOp does not support a text transformer with a class token or padding mask")
        self.module = text
        native = isinstance(text, TextTransformer)
        self.pool_type = text.pool_type if native else text.text_pool_type
        self.eos_id = text.eos_id if native else text.text_eos_id
        self.pad_id = getattr(text, "pad_id", 0)
        self.width = text.token_embedding.embedding_dim

    def embed(self, tokens: Tensor) -> Tensor:
        """Input token embeddings. Shapes: ``[C, L]`` -> ``[C, L, W]``."""
        return self.module.token_embedding(tokens)

    def encode(self, embeddings: Tensor, tokens: Tensor) -> Tensor:
        """Text features from input embeddings, as ``encode_text`` computes them from ``tokens``.

        Shapes:
            embeddings ``[C, L, W]``, tokens ``[C, L]`` (for the pooling position) -> ``[C, D]``.
        """
        text, length = self.module, tokens.shape[1]
        cast_dtype = text.transformer.get_cast_dtype()
        x = embeddings.to(cast_dtype) + text.positional_embedding[:length].to(cast_dtype)  # [C, L, W]
        mask = None if text.attn_mask is None else text.attn_mask[:length, :length]
        x = text.ln_final(text.transformer(x, attn_mask=mask))
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)  # [C, W]
        if text.text_projection is None:
            return x
        return (
            text.text_projection(x)
            if isinstance(text.text_projection, nn.Linear)
            else x @ text.text_projection
        )


class HFTextTower:
    """open_clip's ``HFTextEncoder``, fed token embeddings through ``inputs_embeds``."""

    def __init__(self, encoder: HFTextEncoder) -> None:
        self.module = encoder
        self.pad_id = encoder.config.pad_token_id
        self.width = encoder.transformer.get_input_embeddings().embedding_dim

    def embed(self, tokens: Tensor) -> Tensor:
        """Input (word) embeddings, before the model's position embeddings. ``[C, L]`` -> ``[C, L, W]``."""
        return self.module.transformer.get_input_embeddings()(tokens)

    def encode(self, embeddings: Tensor, tokens: Tensor) -> Tensor:
        """Text features from input embeddings, as ``HFTextEncoder.forward`` computes them from ``tokens``.

        Columns that are padding in every row are dropped first (exact: they are masked).

        Shapes:
            embeddings ``[C, L, W]``, tokens ``[C, L]`` (for the attention mask) -> ``[C, D]``.
        """
        mask = (tokens != self.pad_id).long()  # [C, L]
        length = int(mask.sum(dim=1).max())
        mask, embeddings = mask[:, :length], embeddings[:, :length]
        out = self.module.transformer(inputs_embeds=embeddings, attention_mask=mask)
        return self.module.proj(self.module.pooler(out, mask))


TextTower = NativeTextTower | HFTextTower


def embedding_text_tower(model: nn.Module) -> TextTower:
    """The adapter that runs ``model``'s text tower from input embeddings.

    Raises:
        TypeError: The text tower is neither open_clip's ``TextTransformer`` / ``CLIP`` text nor an
            ``HFTextEncoder`` (e.g. a CoCa tower).
    """
    text = getattr(model, "text", None)
    if isinstance(text, HFTextEncoder):
        return HFTextTower(text)
    if isinstance(text, TextTransformer) or hasattr(model, "token_embedding"):
        return NativeTextTower(model)
    raise TypeError(
        f"CoOp needs an open_clip CLIP or HF text tower, got {type(model if text is None else text).__name__}"
    )


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode with ``requires_grad`` off; its previous mode and flags are restored."""
    training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.eval().requires_grad_(False)
    try:
        yield
    finally:
        module.train(training)
        for param, flag in flags:
            param.requires_grad_(flag)


def token_body(tokens: Tensor, pad_id: int) -> list[Tensor]:
    """The ids strictly between the start and end tokens of each tokenised text (``[N, L]`` -> N lists)."""
    lengths = (tokens != pad_id).sum(dim=1)
    return [row[1 : int(n) - 1] for row, n in zip(tokens, lengths, strict=True)]


def initial_context(model: nn.Module, tokenizer: Tokenizer, config: CoOpConfig) -> Tensor:
    """The context :math:`[V]_{1..M}` before training: the init text's token embeddings, or N(0, 0.02²).

    Raises:
        ValueError: ``config.init`` does not tokenise to exactly ``config.n_ctx`` tokens.

    Shapes:
        -> ``[M, W]``, float32 on the CPU.
    """
    tower = embedding_text_tower(model)
    if config.init is None:
        generator = torch.Generator().manual_seed(config.seed)
        return torch.randn(config.n_ctx, tower.width, generator=generator) * 0.02
    body = token_body(tokenizer([config.init]), tower.pad_id)[0]
    if len(body) != config.n_ctx:
        raise ValueError(
            f"coop.init {config.init!r} tokenises to {len(body)} tokens, but coop.n_ctx is {config.n_ctx}"
        )
    with torch.no_grad():
        weight = tower.embed(body.to(_device(model)))
    return weight.detach().float().cpu().clone()


def context_order(name_lengths: Sequence[int], n_ctx: int, length: int, position: str) -> Tensor:
    """Where each prompt position reads from: the name prompt's tokens ``0..L-1`` or context slot ``L + m``.

    With ``[SOS] name . [EOS] pad…`` tokenised to ``L`` ids, row c of the result lays out
    ``[SOS] [V]_1..[V]_k name_c [V]_k+1..[V]_M . [EOS] pad…`` (k = M for ``end``, ⌊M/2⌋ for ``middle``,
    0 for ``front``), dropping M trailing pads so that the length stays L.

    Shapes:
        name_lengths ``C`` -> ``[C, L]`` indices into the ``L + M`` concatenation.
    """
    split = {"end": n_ctx, "middle": n_ctx // 2, "front": 0}[position]
    context = list(range(length, length + n_ctx))
    rows = [
        [0, *context[:split], *range(1, 1 + n), *context[split:], *range(1 + n, length - n_ctx)]
        for n in name_lengths
    ]
    return torch.tensor(rows, dtype=torch.long)


@dataclass(frozen=True)
class NamePrompts:
    """Tokenised ``"{name}."`` prompts and where the context goes in each (see :func:`context_order`).

    Attributes:
        name_tokens: ``[C, L]`` ids of ``"{name}."``.
        order: ``[C, L]`` gather index into ``[name tokens | context]`` (``L + M`` positions).
        tokens: ``[C, L]`` ids of the final layout (context slots carry the start id), for pooling and masks.
    """

    name_tokens: Tensor
    order: Tensor
    tokens: Tensor


def name_prompts(
    tokenizer: Tokenizer, names: Sequence[str], n_ctx: int, position: str, pad_id: int
) -> NamePrompts:
    """Tokenise ``names`` into :class:`NamePrompts` with room for ``n_ctx`` context vectors.

    Assumes a tokeniser that writes ``[start] body [end] pad…`` (CLIP's BPE, BERT's WordPiece).

    Raises:
        ValueError: No names, an empty name, or a name whose prompt does not fit the context length.
    """
    if not names or any(not str(name).strip() for name in names):
        raise ValueError(f"CoOp needs at least one non-empty category name, got {list(names)[:10]}")
    name_tokens = tokenizer([f"{name}." for name in names])  # [C, L]
    length = name_tokens.shape[1]
    too_long = [
        n
        for n, k in zip(names, (name_tokens != pad_id).sum(dim=1).tolist(), strict=True)
        if k + n_ctx > length
    ]
    if too_long:
        raise ValueError(
            f"the prompts of {too_long[:5]} with {n_ctx} context vectors do not fit the text context "
            f"length {length}"
        )
    name_lengths = [len(body) for body in token_body(tokenizer(list(names)), pad_id)]
    order = context_order(name_lengths, n_ctx, length, position)
    start = name_tokens[:, :1].expand(-1, n_ctx)  # [C, M]
    tokens = torch.cat([name_tokens, start], dim=1).gather(1, order)  # [C, L]
    return NamePrompts(name_tokens, order, tokens)


class PromptLearner(nn.Module):
    r"""CoOp's prompt: a learnable context :math:`[V]_{1..M}` spliced around the frozen name embeddings.

    .. math::
        f_{txt}^{(c)} = \mathrm{normalize}\big(\Phi_T([\text{SOS}]\,[V]_1 \dots [V]_M\,
        [\text{CLASS}_c]\,.\,[\text{EOS}])\big)

    The only parameter is ``context``; the backbone is referenced, not registered, so ``parameters()``,
    ``state_dict()`` and ``.to()`` see the context alone.

    Args:
        model: The frozen open_clip model (its text tower is used, see :func:`embedding_text_tower`).
        tokenizer: The model's open_clip tokenizer.
        context: Initial context :math:`[V]_{1..M}`, ``[M, W]``.
        class_token_position: ``end``, ``middle`` or ``front`` (see :func:`context_order`).

    Shapes:
        names C -> ``[C, D]`` L2-normalised text features.
    """

    def __init__(
        self, model: nn.Module, tokenizer: Tokenizer, context: Tensor, class_token_position: str = "end"
    ) -> None:
        super().__init__()
        self.tower = embedding_text_tower(model)
        if context.dim() != 2 or context.shape[1] != self.tower.width:
            raise ValueError(
                f"context must be [M, {self.tower.width}] (the text tower's width), "
                f"got {tuple(context.shape)}"
            )
        if class_token_position not in CLASS_TOKEN_POSITIONS:
            raise ValueError(
                f"class_token_position must be one of {CLASS_TOKEN_POSITIONS}, got {class_token_position!r}"
            )
        self.tokenizer = tokenizer
        self.class_token_position = class_token_position
        self.context = nn.Parameter(context.detach().clone().float())

    def extra_repr(self) -> str:
        n_ctx, width = self.context.shape
        return f"n_ctx={n_ctx}, width={width}, class_token_position={self.class_token_position!r}"

    def tokenize(self, names: Sequence[str]) -> NamePrompts:
        """The names' prompts, on the context's device (tokenise once, encode many times)."""
        prompts = name_prompts(
            self.tokenizer, names, len(self.context), self.class_token_position, self.tower.pad_id
        )
        device = self.context.device
        return NamePrompts(*(t.to(device) for t in (prompts.name_tokens, prompts.order, prompts.tokens)))

    def forward(self, prompts: NamePrompts) -> Tensor:
        """L2-normalised text features of the tokenised names. Shapes: ``C`` prompts -> ``[C, D]``."""
        n_names, n_ctx, width = prompts.tokens.shape[0], *self.context.shape
        with torch.no_grad():
            names = self.tower.embed(prompts.name_tokens)  # [C, L, W], frozen
        context = self.context.to(names.dtype).unsqueeze(0).expand(n_names, n_ctx, width)  # [C, M, W]
        index = prompts.order.unsqueeze(-1).expand(-1, -1, width)  # [C, L, W]
        embeddings = torch.cat([names, context], dim=1).gather(1, index)  # [C, L, W]
        return F.normalize(self.tower.encode(embeddings, prompts.tokens).float(), dim=-1)


def multilabel_loss(logits: Tensor, labels: Tensor, config: CoOpConfig) -> Tensor:
    """The CoOp training loss of ``config.loss`` on scaled cosines (labels 1 / 0 / -1 unknown).

    Shapes:
        logits, labels ``[N, S]`` -> ``[]``.
    """
    if config.loss == "ranking":
        return ranking_loss(logits, labels, margin=config.margin)
    known = (labels != -1).float()
    bce = F.binary_cross_entropy_with_logits(logits, (labels == 1).float(), weight=known, reduction="sum")
    return bce / known.sum().clamp(min=1)


def logit_scale(model: nn.Module, config: CoOpConfig) -> float:
    """The scale s of the cosines: ``config.logit_scale``, else the backbone's ``exp(logit_scale)``."""
    if config.logit_scale is not None:
        return config.logit_scale
    return float(model.logit_scale.detach().exp())


def check_training_data(
    seen_names: Sequence[str], image_global: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> tuple[Tensor, Tensor]:
    """L2-normalised image features ``[N, D]`` (float32) and labels ``[N, S]`` (long), validated.

    Raises:
        ValueError: No seen names or images, shapes that disagree, or labels outside {1, 0, -1}.
    """
    images = torch.as_tensor(image_global).float()
    targets = torch.as_tensor(labels).long()
    if not seen_names:
        raise ValueError("learn_context needs at least one seen category name")
    if images.dim() != 2 or len(images) == 0:
        raise ValueError(f"image_global must be [N, D] with N >= 1, got {tuple(images.shape)}")
    if tuple(targets.shape) != (len(images), len(seen_names)):
        raise ValueError(
            f"labels must be [N, S] = [{len(images)}, {len(seen_names)}] (images × seen names), "
            f"got {tuple(targets.shape)}"
        )
    if ((targets != 1) & (targets != 0) & (targets != -1)).any():
        raise ValueError(f"labels must be 1, 0 or -1, got values {sorted(targets.unique().tolist())}")
    return F.normalize(images, dim=-1), targets


def learn_context(
    model: nn.Module,
    tokenizer: Tokenizer,
    seen_names: Sequence[str],
    image_global: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    config: CoOpConfig,
) -> Tensor:
    r"""Train CoOp's context on the seen categories, the backbone frozen.

    .. math::
        \min_{[V]_{1..M}} \; \mathcal{L}\big(s \cdot \cos(f_{img}, f_{txt}^{(c)}([V])),\, y\big),
        \quad c \in \text{seen}

    SGD with momentum and a cosine-annealed learning rate over ``epochs`` passes of shuffled batches of the
    cached image features; each step encodes every seen name (CoOp). Runs on the device of ``model``,
    which is left as it was (mode, ``requires_grad`` and weights); deterministic for a given ``config.seed``
    on a given device. Only ``seen_names`` are ever tokenised.

    Args:
        model: The frozen open_clip backbone.
        tokenizer: Its tokenizer.
        seen_names: The S seen category names.
        image_global: Cached global image features of the training images (normalised here).
        labels: 1 positive, 0 negative, -1 unknown, per image and seen category.
        config: The hyper-parameters.

    Returns:
        The learnt context :math:`[V]_{1..M}`, float32 on the CPU.

    Shapes:
        image_global ``[N, D]``, labels ``[N, S]`` -> ``[M, W]``.
    """
    images, targets = check_training_data(seen_names, image_global, labels)
    device = _device(model)
    images, targets = images.to(device), targets.to(device)
    with frozen(model):
        learner = PromptLearner(
            model, tokenizer, initial_context(model, tokenizer, config), config.class_token_position
        )
        learner.to(device)
        prompts = learner.tokenize(seen_names)
        _fit(learner, prompts, images, targets, logit_scale(model, config), config)
    return learner.context.detach().float().cpu().clone()


def _fit(
    learner: PromptLearner,
    prompts: NamePrompts,
    images: Tensor,
    labels: Tensor,
    scale: float,
    config: CoOpConfig,
) -> None:
    """The training loop of :func:`learn_context` (the context is updated in place)."""
    n_images = len(images)
    steps = config.epochs * math.ceil(n_images / config.batch_size)
    optimizer = torch.optim.SGD(
        learner.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        order = torch.randperm(n_images, generator=generator).to(images.device)
        total = 0.0
        for start in range(0, n_images, config.batch_size):
            batch = order[start : start + config.batch_size]
            text = learner(prompts)  # [S, D]
            if text.shape[1] != images.shape[1]:
                raise ValueError(f"image features have D={images.shape[1]}, text features D={text.shape[1]}")
            loss = multilabel_loss(scale * images[batch] @ text.T, labels[batch], config)  # [B, S] logits
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        logger.info("CoOp epoch %d/%d: %s loss %.4f", epoch + 1, config.epochs, config.loss, total / n_images)


def context_text_features(
    model: nn.Module,
    tokenizer: Tokenizer,
    context: Tensor,
    names: Sequence[str],
    class_token_position: str = "end",
    batch_size: int = 256,
) -> np.ndarray:
    """L2-normalised CoOp text features of any names (seen or unseen) under a learnt context.

    Args:
        model: The frozen open_clip backbone (left as it was).
        tokenizer: Its tokenizer.
        context: The context of :func:`learn_context`.
        names: Category names.
        class_token_position: As in training (``CoOpConfig.class_token_position``).
        batch_size: Names per forward pass.

    Returns:
        float32 features.

    Shapes:
        context ``[M, W]``, names C -> ``[C, D]``.
    """
    names = list(names)
    if not names:
        raise ValueError("context_text_features needs at least one category name")
    with frozen(model), torch.no_grad():
        learner = PromptLearner(model, tokenizer, context, class_token_position).to(_device(model))
        chunks = [
            learner(learner.tokenize(names[i : i + batch_size])) for i in range(0, len(names), batch_size)
        ]
    return torch.cat(chunks).cpu().numpy().astype(np.float32)


def _device(model: nn.Module) -> torch.device:
    """Where the backbone's weights live."""
    return next(model.parameters()).device
