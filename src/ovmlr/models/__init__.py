"""The C²SRT model head, its losses and training-free baselines.

Shape letters used in every docstring and ``# [..]`` comment of the project:

* **B** images in a batch
* **C** categories of the vocabulary passed to ``forward`` (seen only in training, seen + unseen at test)
* **P** patches per image (ViT-B/16 at 224 px: 14 × 14 = 196)
* **D** joint image-text feature dimension (ViT-B/16 CLIP: 512)
* **H** attention heads of the IST GATv2 layers
* **K** neighbours (related seen categories) per category in the IST graph
* **T** prompt templates of the text ensemble (Eq. 24)

Modules: ``config`` (JSON configs ↔ dataclasses), ``isr`` (Eq. 4-5, Algorithm 1), ``gatv2`` and ``ist``
(Eq. 6-9, 17-23), ``prediction`` (Eq. 10, the inference-time zero-shot ensemble), ``losses`` (Eq. 11-12),
``distillation`` (Eq. 2), ``c2srt`` (the assembled head), ``baselines`` (zero-shot CLIP, MKT-style two-stream
scores).
"""

from ovmlr.models.baselines import mkt_style_scores, zero_shot_scores
from ovmlr.models.c2srt import C2SRT, check_vocabulary, resolve_temperature
from ovmlr.models.config import (
    C2SRTConfig,
    ISRConfig,
    ISTConfig,
    ScoreConfig,
    config_from_dict,
    config_to_dict,
    list_model_configs,
    load_model_config,
)
from ovmlr.models.distillation import distillation_loss
from ovmlr.models.gatv2 import DenseGATv2Conv, batched_edge_index
from ovmlr.models.isr import ISR, patch_scores, pool_patches, pooling_weights, select_patches
from ovmlr.models.ist import IST
from ovmlr.models.losses import ranking_loss, total_loss
from ovmlr.models.prediction import ScoreScale, category_cosine, zero_shot_ensemble

__all__ = [
    "C2SRT",
    "C2SRTConfig",
    "DenseGATv2Conv",
    "ISR",
    "ISRConfig",
    "IST",
    "ISTConfig",
    "ScoreConfig",
    "ScoreScale",
    "batched_edge_index",
    "category_cosine",
    "check_vocabulary",
    "config_from_dict",
    "config_to_dict",
    "distillation_loss",
    "list_model_configs",
    "load_model_config",
    "mkt_style_scores",
    "patch_scores",
    "pool_patches",
    "pooling_weights",
    "ranking_loss",
    "resolve_temperature",
    "select_patches",
    "total_loss",
    "zero_shot_ensemble",
    "zero_shot_scores",
]
