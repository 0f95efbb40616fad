"""Nodes of the ``multimodal`` pipeline (CSCF, with CAL / OGM-GE balancing): thin adapters over
:mod:`ovmlr.multimodal`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ovmlr.backbones.features import encode_prompts
from ovmlr.backbones.loading import load_backbone
from ovmlr.backbones.spec import BackboneSpec
from ovmlr.core.device import resolve_device
from ovmlr.core.vocabulary import ENSEMBLE, text_feature_matrix
from ovmlr.data.tagged_art.titles import mosaic_titles
from ovmlr.datasets.mlflow_registry import ModelRegistration
from ovmlr.multimodal.card import cscf_card, cscf_description
from ovmlr.multimodal.data import (
    MultimodalSplits,
    align_modalities,
    category_sets_from_frame,
    modality_table,
    vocabulary_labels,
)
from ovmlr.multimodal.evaluation import results_table, robustness_curves
from ovmlr.multimodal.fit import fit_cscf
from ovmlr.multimodal.trained import TrainedCSCF
from ovmlr.reporting.multimodal import plot_robustness, results_markdown

logger = logging.getLogger(__name__)


def tagged_art_sample_texts(mosaic_layout: pd.DataFrame, tagged_art_items: pd.DataFrame) -> pd.DataFrame:
    """The text modality of the offline default: each mosaic's item titles (``image_id``, ``text``)."""
    return mosaic_titles(mosaic_layout, tagged_art_items)


def encode_sample_texts(
    sample_texts: pd.DataFrame, backbone_spec: dict[str, Any], params: Mapping[str, Any]
) -> pd.DataFrame:
    """Each sample's text through the project's text tower (the class-text space): a modality table."""
    missing = [c for c in ("image_id", "text") if c not in sample_texts.columns]
    if missing:
        raise ValueError(f"multimodal_sample_texts lacks columns {missing}")
    loaded = load_backbone(BackboneSpec.from_dict(backbone_spec), resolve_device(params["device"]))
    texts = sample_texts["text"].fillna("").astype(str).tolist()
    features = encode_prompts(loaded.model, loaded.tokenizer, texts, params["text_batch_size"], loaded.device)
    logger.info("Text modality: %d samples encoded, D=%d", len(texts), features.shape[1])
    return modality_table(sample_texts["image_id"].astype(str).tolist(), features.numpy())


def image_modality_table(image_embeddings: Any, image_keys: pd.DataFrame) -> pd.DataFrame:
    """The image modality: every image's cached global feature (the frozen backbone's)."""
    keys = image_keys.drop_duplicates("image_id")
    return modality_table(
        keys["image_id"].astype(str).tolist(), image_embeddings.load_global(keys["image_key"].tolist())
    )


def collect_default_modalities(image: pd.DataFrame, text: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The offline default's modality tables under their names (partitions of ``multimodal_features``)."""
    return {"image": image, "text": text}


def assemble_multimodal_splits(  # noqa: PLR0913, PLR0917 - Kedro passes node inputs positionally
    multimodal_features: Mapping[str, Callable[[], pd.DataFrame]],
    train_labels: pd.DataFrame,
    val_labels: pd.DataFrame,
    test_labels: pd.DataFrame,
    category_split: pd.DataFrame,
    text_features: pd.DataFrame,
    modality_category_sets: pd.DataFrame,
    modalities: list[str],
) -> MultimodalSplits:
    """Features, labels, text features and category sets of the three splits, checked.

    See :func:`ovmlr.multimodal.data.align_modalities` and
    :func:`~ovmlr.multimodal.data.category_sets_from_frame`.
    """
    absent = [m for m in modalities if m not in multimodal_features]
    if absent:
        raise ValueError(
            f"multimodal.modalities lists {absent} but multimodal_features has only "
            f"{sorted(multimodal_features)} "
            "(one <modality>.parquet per modality in its folder)"
        )
    tables = {m: multimodal_features[m]() for m in modalities}
    names = tuple(category_split["name"].astype(str))
    sets = category_sets_from_frame(modality_category_sets, names, tuple(category_split["role"]), modalities)
    batches, labels = {}, {}
    for split, table in (("train", train_labels), ("val", val_labels), ("test", test_labels)):
        ids, y = vocabulary_labels(table, names, sets.unseen, split)
        batches[split] = align_modalities(tables, ids, modalities, require_all=split != "test", where=split)
        labels[split] = y
    ids = category_split["category_id"].to_numpy(dtype=np.int64)
    return MultimodalSplits(
        train=batches["train"],
        val=batches["val"],
        test=batches["test"],
        train_labels=labels["train"],
        val_labels=labels["val"],
        test_labels=labels["test"],
        text=text_feature_matrix(text_features, ids, ENSEMBLE),
        category_ids=ids,
        sets=sets,
    )


def train_cscf_models(
    multimodal_splits: MultimodalSplits,
    params: Mapping[str, Any],
    alignment: str,
    pico_params: Mapping[str, Any],
    dataset: str,
) -> dict[str, TrainedCSCF]:
    """One CSCF model per balancing of ``compare_balancing`` (the registered one's ``training.balancing``
    first), each trained, PICO-fitted (``alignment: pico``) and γ-chosen on validation."""
    main = params["training"]["balancing"]
    order = [main, *[b for b in params["compare_balancing"] if b != main]]
    data = multimodal_splits
    models = {}
    for balancing in order:
        training = dict(params["training"]) | {"balancing": balancing}
        models[balancing] = fit_cscf(
            data.train,
            data.train_labels,
            data.val,
            data.val_labels,
            data.text,
            data.category_ids,
            data.sets,
            training,
            params["fusion"],
            alignment,
            pico_params,
            {"dataset": dataset},
        )
    return models


def evaluate_cscf(
    cscf_models: dict[str, TrainedCSCF], multimodal_splits: MultimodalSplits, ks: list[int]
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """Metrics of every method and balancing on the test split (and on validation, seen categories only,
    where the fusion was tuned): table, markdown, and the registered model's test metrics for MLflow.

    Each row also gives the share of samples whose dominant modality is each modality (``dominant:<m>``).
    """
    data = multimodal_splits
    frames = []
    for split, batch, labels in (("test", data.test, data.test_labels), ("val", data.val, data.val_labels)):
        for balancing, model in cscf_models.items():
            modality_scores = model.modality_scores(batch)  # once: every method and the shares reuse them
            scores = model.score_all(batch, labels, modality_scores)
            frame = results_table(scores, labels, data.sets, ks, zero_shot=split == "test")
            dominant = pd.Series(model.dominant(batch, modality_scores)).value_counts(normalize=True)
            shares = {f"dominant:{m}": float(dominant.get(m, 0.0)) for m in model.modalities}
            frames.append(frame.assign(balancing=balancing, split=split, **shares))
    table = pd.concat(frames, ignore_index=True)
    main = next(iter(cscf_models))
    metrics = {
        f"multimodal/{row['method']}/{key}": {"value": float(value), "step": 0}
        for row in table[(table["balancing"] == main) & (table["split"] == "test")].to_dict("records")
        for key, value in row.items()
        if key not in ("method", "balancing", "split")
        and not key.endswith("n_categories")
        and pd.notna(value)
    }
    return table, results_markdown(table, cscf_models[main]), metrics


def robustness(
    cscf_models: dict[str, TrainedCSCF], multimodal_splits: MultimodalSplits, params: Mapping[str, Any]
) -> tuple[pd.DataFrame, Figure]:
    """Robustness curves (Gaussian feature noise, dropped modality) of every balancing, and their plot."""
    curves = robustness_curves(
        cscf_models,
        multimodal_splits.test,
        multimodal_splits.test_labels,
        params["noise_levels"],
        params["drop_fractions"],
        params["methods"],
        params["seed"],
    )
    return curves, plot_robustness(curves)


def register_cscf(
    cscf_models: dict[str, TrainedCSCF], multimodal_results: pd.DataFrame, dataset: str, force_champion: bool
) -> tuple[TrainedCSCF, ModelRegistration]:
    """The configured balancing's model, for the model folder and the MLflow registry (champion by val)."""
    balancing, model = next(iter(cscf_models.items()))
    best_val = max(t["val_seen_mAP"] for t in model.info["gamma_trials"])
    results = multimodal_results
    test = results[
        (results["balancing"] == balancing) & (results["method"] == "cscf") & (results["split"] == "test")
    ]
    row = test.iloc[0].to_dict()
    return model, ModelRegistration(
        trained=model,
        dataset=dataset,
        selection_metric="val_seen_mAP",
        selection_value=best_val,
        description=cscf_description(model, row, dataset),
        model_card=cscf_card(model, row, dataset),
        force_champion=force_champion,
        tags={"ovmlr.balancing": balancing, "ovmlr.alignment": model.info["alignment"]},
    )
