"""Image and text features of the frozen backbone (Eq. 1, 3 and 24), through open_clip's own API.

Shapes: B images, P patches, D joint embedding dim, C categories, T prompt templates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from open_clip.hf_model import HFTextEncoder
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer
from torch import nn

from .text_cache import TextFeatureCache


def encode_image_tokens(visual: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Global feature and projected patch tokens of an image tower (Eq. 1).

    .. math::
        \\mathcal{F}_p, f_G = \\Phi_1(\\mathbf{x})

    * An open_clip ViT (``VisionTransformer``): ``f_G`` is exactly ``model.encode_image(x)`` (the pooled
      token(s) through ``ln_post`` and ``proj``); ``F_p`` are the last block's patch tokens through the same
      ``ln_post`` and ``proj``, so patches and the global feature live in the joint image-text space (as
      MKT's patch features do). ``VisionTransformer.forward_intermediates``, one forward pass.
    * A timm convolutional tower (open_clip ``TimmModel``, average pooling and a linear projection, as the
      offline demo backbone): ``F_p`` are the final feature map's positions through the projection head, so
      with average pooling ``f_G`` is their mean, exactly.

    Args:
        visual: ``model.visual``: an open_clip ViT without attentional pooling, or a ``TimmModel`` with
            ``timm_pool: avg`` and ``timm_proj: linear``.
        images: Preprocessed images.

    Returns:
        ``(global [B, D], patches [B, P, D])``, not normalised, float32 (a reduced-precision tower gets
        its images in its own dtype and its outputs cast back).

    Shapes:
        images ``[B, 3, H, W]`` -> ``[B, D]``, ``[B, P, D]``: ``P = (H / patch) * (W / patch)`` for a ViT,
        the feature map's ``h * w`` for a convolutional tower.

    Raises:
        TypeError: Any other image tower, or one that pools with attention (no per-patch tokens).
    """
    if isinstance(visual, TimmModel):
        return _timm_tokens(visual, images)
    if not isinstance(visual, VisionTransformer) or visual.attn_pool is not None:
        raise TypeError(
            f"encode_image_tokens needs an open_clip VisionTransformer without attentional pooling or a "
            f"TimmModel with average pooling, got {type(visual).__name__}"
        )
    dtype = visual.conv1.weight.dtype
    images = images.to(dtype) if images.dtype != dtype else images
    out = visual.forward_intermediates(images, indices=1, normalize_intermediates=True, output_fmt="NLC")
    patches = out["image_intermediates"][-1]  # [B, P, width], after ln_post
    if visual.proj is not None:
        patches = patches @ visual.proj  # [B, P, D]
    return out["image_features"].float(), patches.float()


def _timm_tokens(visual: TimmModel, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f_G, F_p)`` of a timm tower: the feature map's positions through the projection head."""
    if hasattr(visual.head, "pool") or not hasattr(visual.trunk, "forward_head"):
        raise TypeError("encode_image_tokens needs a TimmModel with timm_pool: avg (no attention pooling)")
    dtype = next(visual.parameters()).dtype
    fmap = visual.trunk.forward_features(images.to(dtype))  # [B, C, h, w]
    patches = visual.head(fmap.flatten(2).transpose(1, 2))  # [B, P, D]
    pooled = visual.head(visual.trunk.forward_head(fmap))  # [B, D]
    return pooled.float(), patches.float()


def output_width(visual: nn.Module) -> int:
    """D, the width of the image tower's global and patch features."""
    if isinstance(visual, TimmModel):
        return int(visual.head.proj.out_features)
    return int(visual.output_dim)


def patch_count(visual: nn.Module) -> int:
    """P, the number of patch tokens the image tower gives per image (:func:`encode_image_tokens`)."""
    grid = getattr(visual, "grid_size", None)
    if isinstance(visual, VisionTransformer) and grid is not None:
        return int(grid[0] * grid[1])
    size = (
        tuple(visual.image_size) if isinstance(visual.image_size, tuple | list) else (visual.image_size,) * 2
    )
    param = next(visual.parameters())
    with torch.inference_mode():
        probe = torch.zeros(1, 3, *size, dtype=param.dtype, device=param.device)
        return int(encode_image_tokens(visual, probe)[1].shape[1])


def fill_templates(templates: Sequence[str], names: Sequence[str]) -> list[str]:
    """Prompts ``template.format(name)``, template-major (``T * C`` strings).

    Raises:
        ValueError: No template, or a template without exactly one ``{}`` placeholder.
    """
    if not templates:
        raise ValueError("at least one prompt template is needed")
    for template in templates:
        if template.count("{}") != 1:
            raise ValueError(f"prompt template {template!r} must contain exactly one '{{}}' placeholder")
    return [template.format(name) for template in templates for name in names]


def trim_padding(tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """``tokens`` without the trailing columns that are padding in every row.

    Exact for a Hugging Face text tower (it masks padding and pools over the unmasked tokens): the padding
    columns change nothing but the cost (prompts of ~10 tokens padded to a context of 32 cost ~2.4x more,
    measured on the demo's MiniLM). open_clip's own text transformer has a fixed-size causal mask and gets
    its full context.

    Shapes:
        tokens ``[N, L]`` -> ``[N, L']`` with ``L' <= L``.
    """
    used = (tokens != pad_id).any(dim=0).nonzero()
    return tokens[:, : int(used.max()) + 1] if len(used) else tokens


@torch.inference_mode()
def encode_prompts(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    prompts: Sequence[str],
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """L2-normalised text features of ``prompts`` (Eq. 3), ``[N, D]`` on the CPU, float32, in their order.

    With a Hugging Face text tower, the prompts are batched by length (longest first) and each batch is cut
    to its longest prompt (:func:`trim_padding`), so a batch pads little.
    """
    trim = isinstance(getattr(model, "text", None), HFTextEncoder)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i])) if trim else range(len(prompts))
    ordered = [prompts[i] for i in order]
    chunks = []
    for start in range(0, len(ordered), batch_size):
        tokens = tokenizer(ordered[start : start + batch_size])
        tokens = (trim_padding(tokens, model.text.config.pad_token_id) if trim else tokens).to(device)
        chunks.append(model.encode_text(tokens, normalize=True).float().cpu())
    if not chunks:
        return torch.empty(0, 0)
    features = torch.cat(chunks)
    return features[torch.argsort(torch.as_tensor(list(order)))]


def ensemble_text_features(per_template: torch.Tensor) -> torch.Tensor:
    """Prompt ensemble (Eq. 24): the normalised sum over templates of the per-template features.

    .. math::
        f_{txt}^{(c)} = \\sum_{i=1}^{T} \\Phi_T^{CLIP}(\\text{prompt}_{t_i}(c))

    The per-template features are L2-normalised first (as CLIP's zero-shot classifier does), so the result
    is the normalised *mean* direction; the sum and the mean differ only by a scale removed by the final
    normalisation.

    Shapes:
        per_template ``[T, C, D]`` -> ``[C, D]``.
    """
    return F.normalize(per_template.sum(dim=0), dim=-1)


def category_text_features(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    names: Sequence[str],
    templates: Sequence[str],
    batch_size: int,
    device: torch.device,
    cache: TextFeatureCache | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-template and ensembled text features of every category name.

    Args:
        cache: Per-prompt features kept on disk (:class:`~ovmlr.backbones.text_cache.TextFeatureCache` of
            this model's text tower): only the prompts it lacks go through the tower.

    Returns:
        ``(per_template [T, C, D], ensemble [C, D])``, L2-normalised, float32 on the CPU.
    """
    prompts = fill_templates(templates, names)

    def encode(texts: list[str]) -> torch.Tensor:
        return encode_prompts(model, tokenizer, texts, batch_size, device)

    flat = encode(prompts) if cache is None else cache.features(templates, names, encode)  # [T * C, D]
    per_template = flat.reshape(len(templates), len(names), -1)
    return per_template, ensemble_text_features(per_template)
