"""``make backbone``: train the demo backbone's recipe over several seeds and make the shipped release.

Each seed trains the recipe from scratch on the pretraining pool; its weights are rounded to the shipped
dtype (:data:`~ovmlr.backbones.shipped.SHIPPED_DTYPE`) and then checked on mosaics of the pool's held-out
items, so the metrics in the manifest are those of the weights as shipped. The release ships one seed's
weights (``ship_seed``) with the mean and standard deviation over all seeds.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from ovmlr.data.tables import pool_digest

from .canvas import CanvasConfig
from .demo import (
    DemoTrainingConfig,
    create_initial_model,
    heldout_scores,
    heldout_zero_shot_map,
    pool_vocabulary,
    recipe_json,
    train_demo_backbone,
)
from .precision import machine_summary
from .shipped import ShippedRelease, shipped_part, with_shipped_weights

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldoutCheck:
    """How the zero-shot check on held-out mosaics runs (``backbone.zero_shot``)."""

    templates: tuple[str, ...]
    images: int = 1000
    seed: int = 0
    batch_size: int = 250

    def measure(
        self, model: torch.nn.Module, tokenizer: Any, pool: pd.DataFrame, canvas: CanvasConfig
    ) -> dict:
        """``{"mAP", "chance_mAP"}`` of ``model`` on the pool's held-out mosaics."""
        device = next(model.parameters()).device
        with torch.inference_mode():
            args = (self.templates, canvas, self.images, self.seed, self.batch_size, device)
            scores, labels = heldout_scores(model.eval(), tokenizer, pool, *args)
        value, chance = heldout_zero_shot_map(scores, labels)
        return {"mAP": value, "chance_mAP": chance}


def pool_hashes(pretrain_pool: pd.DataFrame) -> dict[str, str]:
    """The pool digests a shipped backbone is tied to (pretraining item ids, held-out ids, vocabulary)."""
    return pool_digest(pretrain_pool, pool_vocabulary(pretrain_pool))


def train_release(
    model_name: str,
    model_config: dict[str, Any],
    config: DemoTrainingConfig,
    pretrain_pool: pd.DataFrame,
    check: HeldoutCheck,
    seeds: tuple[int, ...],
) -> ShippedRelease:
    """Train ``config`` once per seed and release the weights of ``config.seed`` with every seed's metrics.

    Raises:
        ValueError: ``config.seed`` is not among ``seeds``.
    """
    if config.seed not in seeds:
        raise ValueError(f"backbone.release.seeds {list(seeds)} must include the recipe's seed {config.seed}")
    device = torch.device("cpu")
    shipped_state, runs = None, {}
    for seed in seeds:
        model, tokenizer = create_initial_model(model_name, seed, device)
        result = train_demo_backbone(model, tokenizer, pretrain_pool, replace(config, seed=seed), device)
        as_shipped = with_shipped_weights(
            model, {k: v.float() for k, v in shipped_part(result.state_dict).items()}
        )
        model.load_state_dict(as_shipped)
        metrics = check.measure(model, tokenizer, pretrain_pool, config.canvas)
        runs[str(seed)] = metrics | {
            "train_seconds": round(result.train_seconds, 1),
            "precision": result.precision,
        }
        logger.info(
            "Release seed %d: held-out mAP %.4f (chance %.4f)", seed, metrics["mAP"], metrics["chance_mAP"]
        )
        if seed == config.seed:
            shipped_state = as_shipped
    manifest = release_manifest(model_config, config, pretrain_pool, runs)
    return ShippedRelease(model_name=model_name, state=shipped_state, manifest=manifest)


def release_manifest(
    model_config: dict[str, Any],
    config: DemoTrainingConfig,
    pretrain_pool: pd.DataFrame,
    runs: dict[str, dict],
) -> dict[str, Any]:
    """The manifest: recipe, pool hashes, held-out metrics per seed and their mean ± std, time and machine."""
    values = np.array([run["mAP"] for run in runs.values()])
    return {
        "recipe": json.loads(recipe_json(model_config, config)),
        "pool": pool_hashes(pretrain_pool),
        "heldout_mosaic_map": {
            "per_seed": runs,
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "shipped_seed": config.seed,
        },
        "machine": machine_summary(),
        "date": datetime.date.today().isoformat(),
        "reproduce": "make backbone (kedro run --pipeline=backbone_release)",
    }
