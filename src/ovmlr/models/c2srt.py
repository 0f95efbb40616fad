"""The C²SRT head (Fig. 3): ISR local features → IST category graph → Eq. (10) scores.

The image encoder is not part of this module: it receives the global feature and the projected patch tokens
(from the frozen backbone cache, or from the trainable student in finetune mode, whose distillation loss the
trainer adds). The vocabulary (text features and neighbour index) is a forward argument, so the same weights
score the seen categories in training and seen + unseen ones at evaluation.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovmlr.models.baselines import mkt_style_scores, zero_shot_scores
from ovmlr.models.config import C2SRTConfig
from ovmlr.models.isr import ISR
from ovmlr.models.ist import IST, MixedFeatures
from ovmlr.models.prediction import ScoreScale, category_cosine, zero_shot_ensemble

logger = logging.getLogger(__name__)


def resolve_temperature(config: C2SRTConfig, logit_scale: float | None) -> C2SRTConfig:
    """Fill ``isr.temperature`` with the backbone's logit scale when the config leaves it ``None``.

    Args:
        config: The architecture config.
        logit_scale: The backbone's CLIP logit scale (``model.logit_scale.exp()``), or ``None``.

    Returns:
        A config whose ISR temperature is set (unchanged if ISR is off or the temperature is explicit).

    Raises:
        ValueError: If ISR is on, the temperature is ``None`` and no logit scale is given.
    """
    if not config.use_isr or config.isr.temperature is not None:
        return config
    if logit_scale is None or logit_scale <= 0:
        raise ValueError(
            f"isr.temperature is null, so the backbone's logit scale is needed, got logit_scale={logit_scale}"
        )
    logger.info("ISR temperature = backbone logit scale %.4g", logit_scale)
    return replace(config, isr=replace(config.isr, temperature=float(logit_scale)))


def check_vocabulary(text_feats: Tensor, neighbours: Tensor | None, embed_dim: int, need_graph: bool) -> None:
    """Raise a clear error if the text features or the neighbour index break the [C, D] / [C, K] contract."""
    if text_feats.dim() != 2 or text_feats.shape[1] != embed_dim:
        raise ValueError(f"text_feats must be [C, D={embed_dim}], got {tuple(text_feats.shape)}")
    if not need_graph:
        return
    n_categories = text_feats.shape[0]
    if (
        neighbours is None
        or neighbours.dim() != 2
        or neighbours.shape[0] != n_categories
        or not neighbours.shape[1]
    ):
        shape = None if neighbours is None else tuple(neighbours.shape)
        raise ValueError(f"neighbours must be [C={n_categories}, K>=1] (IST is on), got {shape}")
    if neighbours.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"neighbours must hold integer category indices, got dtype {neighbours.dtype}")
    if neighbours.numel() and (neighbours.min() < 0 or neighbours.max() >= n_categories):
        raise ValueError(
            f"neighbours must index the C={n_categories} categories of this vocabulary, "
            f"got values in [{int(neighbours.min())}, {int(neighbours.max())}]"
        )
    own = torch.arange(n_categories, device=neighbours.device).unsqueeze(1)
    if (neighbours == own).any():
        category = int((neighbours == own).any(dim=1).nonzero()[0])
        raise ValueError(f"category {category} lists itself as a neighbour: {neighbours[category].tolist()}")


class C2SRT(nn.Module):
    r"""Category-adaptive cross-modal semantic refinement and transfer (the head after the image encoder).

    .. math::
        f_{img}^{(c)} = (f_L^{(c)} + f_G) / 2, \quad h_l = IST(f_{img}, f_{txt}, \mathcal{N}), \quad
        \hat{y}_c = s \cdot \cos(h_l^{(c)}, f_{txt}^{(c)})

    Global features, patch tokens and text features are L2-normalised on entry, and :math:`f_L` after
    pooling, so the local and global halves of :math:`f_{img}` weigh the same. Ablations: ``use_isr=False``
    (or ISR's α = 0, Fig. 5) gives :math:`f_{img}^{(c)} = f_G`; ``use_ist=False`` scores
    :math:`f_{img}^{(c)}` directly. With both off (or ISR only) the head has no trainable parameter except
    a learnable score scale.

    In eval mode, with ``score.zero_shot_weight`` w > 0, :math:`\hat{y}_c` uses
    :math:`(1 - w) \cos(h_l^{(c)}, f_{txt}^{(c)}) + w \cos(f_G, f_{txt}^{(c)})` instead of the cosine (an
    inference-time ensemble with zero-shot CLIP, :func:`~ovmlr.models.prediction.zero_shot_ensemble`);
    in training mode the score is always Eq. (10), so the ranking loss trains the head alone.

    Args:
        config: Architecture (see :class:`~ovmlr.models.config.C2SRTConfig`).
        logit_scale: The backbone's CLIP logit scale, used as ISR temperature when ``isr.temperature`` is
            ``None``; the resolved value is kept in ``self.config``.

    Shapes:
        - **input:** global :math:`(B, D)`, patches :math:`(B, P, D)`, text :math:`(C, D)`,
          neighbours :math:`(C, K)`
        - **output:** dict: ``logits`` :math:`(B, C)`, ``cosine`` :math:`(B, C)`, ``f_img``
          :math:`(B, C, D)`, ``node_feats`` :math:`(B, C, D)` (= ``f_img`` when IST is off), ``zero_shot``
          :math:`(B, C)` (:math:`\cos(f_G^{CLIP}, f_{txt})`, the frozen backbone's global), and with ISR on
          ``f_local`` :math:`(B, C, D)` and
          ``isr_mask`` :math:`(B, C, P)` (bool)
    """

    def __init__(self, config: C2SRTConfig, logit_scale: float | None = None) -> None:
        super().__init__()
        is_mkt = config.head == "mkt"
        self.config = config if is_mkt else resolve_temperature(config, logit_scale)
        self.isr = ISR(self.config.isr) if self.config.use_isr and not is_mkt else None
        self.ist = IST(self.config.ist, self.config.embed_dim) if self.config.use_ist and not is_mkt else None
        self.score_scale = ScoreScale(self.config.score)
        if self.config.alignment == "pico":
            self.register_buffer("alignment_weights", torch.ones(self.config.embed_dim))

    def set_alignment_weights(self, weights: Tensor) -> None:
        """PICO's per-dimension weights w [D] (``alignment: pico``), fitted on the training split."""
        if self.config.alignment != "pico":
            raise ValueError("set_alignment_weights needs alignment: pico")
        if weights.shape != (self.config.embed_dim,) or (weights < 0).any():
            raise ValueError(f"alignment weights must be [D={self.config.embed_dim}] and >= 0")
        self.alignment_weights.copy_(weights.to(self.alignment_weights))

    def aligned(self, *feats: Tensor | None) -> tuple[Tensor | None, ...]:
        r"""The features in the space every comparison is made in: as given (``cosine``), or each dimension
        scaled by :math:`\sqrt{w_d}` (``pico``), so that a cosine there is PICO's weighted cosine
        :math:`\sum_d w_d v_d t_d / (\sqrt{\sum_d w_d v_d^2} \sqrt{\sum_d w_d t_d^2})`.

        Shapes:
            each [..., D] → [..., D]
        """
        if self.config.alignment != "pico":
            return feats
        scale = self.alignment_weights.clamp_min(0).sqrt()
        return tuple(None if f is None else f * scale.to(f.dtype) for f in feats)

    def image_features(
        self, global_feats: Tensor, patch_feats: Tensor | None, text: Tensor
    ) -> dict[str, Tensor]:
        """Per-category image features :math:`f_{img}` (and ISR's ``f_local`` / ``isr_mask`` when on).

        Shapes:
            global_feats: [B, D], patch_feats: [B, P, D] or None (ISR off), text: [C, D] → f_img [B, C, D]
        """
        return self.mixed_image_features(global_feats, patch_feats, text)[0]

    def mixed_image_features(
        self, global_feats: Tensor, patch_feats: Tensor | None, text: Tensor
    ) -> tuple[dict[str, Tensor], MixedFeatures | None]:
        r""":meth:`image_features`, and with ISR on the same :math:`f_{img}` as a per-image mixture
        (:class:`~ovmlr.models.ist.MixedFeatures`): :math:`f_{img}^{(c)} = \sum_p \frac{w_{cp}}{2 \Vert
        f_L^{(c)} \Vert} F_p + f_G / 2`, with ISR's pooling weights w, for IST to use per image.

        Shapes:
            as :meth:`image_features`; mixture: patches [B, P, D], weights [B, C, P], shared [B, D]
        """
        f_global = F.normalize(global_feats, dim=-1).unsqueeze(1)  # [B, 1, D]
        no_local = self.config.isr.selection == "alpha" and self.config.isr.alpha == 0.0
        if self.isr is None or no_local:  # α = 0: no local feature (Fig. 5)
            return {"f_img": f_global.expand(-1, text.shape[0], -1)}, None
        if patch_feats is None or patch_feats.dim() != 3 or patch_feats.shape[0] != global_feats.shape[0]:
            shape = None if patch_feats is None else tuple(patch_feats.shape)
            raise ValueError(
                f"patch_feats must be [B={global_feats.shape[0]}, P, D] (ISR is on), got {shape}"
            )
        patches = F.normalize(patch_feats, dim=-1)
        weights, mask = self.isr.weights(patches, text)  # [B, C, P]
        weights = weights.to(patches.dtype)
        pooled = torch.bmm(weights, patches)  # [B, C, D], Eq. (5)
        norm = pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # as F.normalize
        f_local = pooled / norm
        mixed = MixedFeatures(patches, weights / (2 * norm), f_global.squeeze(1) / 2)
        return {"f_img": (f_local + f_global) / 2, "f_local": f_local, "isr_mask": mask}, mixed

    def forward(
        self,
        global_feats: Tensor,
        patch_feats: Tensor | None,
        text_feats: Tensor,
        neighbours: Tensor | None,
        zero_shot_global: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Score every image for every category of the given vocabulary (keys: see the class docstring).

        ``zero_shot_global`` [B, D] is the *frozen* backbone's global feature for the zero-shot term; ``None``
        means ``global_feats`` are the frozen backbone's (frozen mode). A model whose encoder was fine-tuned
        must pass it when ``score.zero_shot_weight`` > 0: the ensemble's second term is zero-shot CLIP, not
        the student (:meth:`ovmlr.trained.TrainedC2SRT.score` refuses to score without it).
        """
        if global_feats.dim() != 2 or global_feats.shape[1] != self.config.embed_dim:
            raise ValueError(
                f"global_feats must be [B, D={self.config.embed_dim}], got {tuple(global_feats.shape)}"
            )
        check_vocabulary(text_feats, neighbours, self.config.embed_dim, need_graph=self.ist is not None)
        global_feats, patch_feats, text_feats, zero_shot_global = self.aligned(
            global_feats, patch_feats, text_feats, zero_shot_global
        )
        text = F.normalize(text_feats, dim=-1)
        if self.config.head == "mkt":
            out = {"cosine": self.mkt_scores(global_feats, patch_feats, text)}
        else:
            out, mixed = self.mixed_image_features(global_feats, patch_feats, text)
            ist_input = out["f_img"] if mixed is None else mixed
            out["node_feats"] = out["f_img"] if self.ist is None else self.ist(ist_input, text, neighbours)
            out["cosine"] = category_cosine(out["node_feats"], text)
        if zero_shot_global is not None and zero_shot_global.shape != global_feats.shape:
            raise ValueError(
                f"zero_shot_global must be [B, D] like global_feats {tuple(global_feats.shape)}, "
                f"got {tuple(zero_shot_global.shape)}"
            )
        frozen_global = global_feats if zero_shot_global is None else zero_shot_global
        out["zero_shot"] = zero_shot_scores(frozen_global, text_feats)
        weight = 0.0 if self.training else self.config.score.zero_shot_weight
        out["logits"] = self.score_scale(zero_shot_ensemble(out["cosine"], out["zero_shot"], weight))
        return out

    def mkt_scores(self, global_feats: Tensor, patch_feats: Tensor | None, text: Tensor) -> Tensor:
        """``head: mkt``: MKT's two-stream score (:func:`~ovmlr.models.baselines.mkt_style_scores`).

        The Table 1 baseline trained as MKT is: no head parameter, the student encoder fine-tuned under the
        same ranking and distillation losses (finetune mode); k is capped at the number of patches. As in
        MKT, each image's two score vectors are L2-normalised over the scored categories, so an MKT head's
        scores depend on the label list it scores (rankings within an image do not).

        Shapes:
            global_feats: [B, D], patch_feats: [B, P, D], text: [C, D] → [B, C]
        """
        if patch_feats is None or patch_feats.dim() != 3:
            raise ValueError("the mkt head needs patch features [B, P, D]")
        return mkt_style_scores(
            global_feats, patch_feats, text, k=min(self.config.mkt_k, patch_feats.shape[1])
        )

    @torch.no_grad()
    def attention(
        self, global_feats: Tensor, patch_feats: Tensor | None, text_feats: Tensor, neighbours: Tensor
    ) -> list[Tensor]:
        """IST's attention coefficients (Fig. 7): one [B, C, K, H] tensor per GAT layer, summing to 1 over K.

        Raises:
            ValueError: If the head has no IST (``use_ist: false`` or ``head: mkt``).
        """
        if self.ist is None:
            raise ValueError("this head has no IST (use_ist is false or head is mkt): no attention to show")
        check_vocabulary(text_feats, neighbours, self.config.embed_dim, need_graph=True)
        global_feats, patch_feats, text_feats = self.aligned(global_feats, patch_feats, text_feats)
        text = F.normalize(text_feats, dim=-1)
        out, mixed = self.mixed_image_features(global_feats, patch_feats, text)
        return self.ist(out["f_img"] if mixed is None else mixed, text, neighbours, return_attention=True)[1]

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"embed_dim={c.embed_dim}, use_isr={c.use_isr}, use_ist={c.use_ist}, "
            f"zero_shot_weight={c.score.zero_shot_weight}"
        )
