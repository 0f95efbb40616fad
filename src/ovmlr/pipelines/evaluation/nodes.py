"""Nodes of the ``evaluation`` pipeline: score the registered model and the baselines on the test split,
compute Supplement A's metrics, and draw the reports."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ovmlr.alignment.pico import PICOConfig, PICOWeights
from ovmlr.core.device import resolve_device
from ovmlr.core.features import FeatureSplit
from ovmlr.core.vocabulary import Vocabulary, label_matrix, text_feature_matrix
from ovmlr.evaluation.attention import attention_report
from ovmlr.evaluation.scoring import (
    baseline_scores,
    effective_mkt_k,
    fit_zero_shot_pico,
    score_matrix,
    scores_frame,
)
from ovmlr.evaluation.selection import (
    choose_images,
    choose_relation_targets,
    isr_selection_table,
    row_positions,
    subsample_rows,
    top_predictions_table,
)
from ovmlr.evaluation.summary import (
    category_ap_table,
    method_metrics,
    metrics_markdown,
    mlflow_metrics,
    split_ks,
)
from ovmlr.reporting import (
    plot_category_ap,
    plot_isr_selection,
    plot_precision_recall,
    plot_relation_graphs,
    plot_top_predictions,
)
from ovmlr.reporting.attention import attention_heatmap
from ovmlr.reporting.images import read_manifest_images
from ovmlr.reporting.pico import pico_weights_table, plot_pico_weights
from ovmlr.reporting.style import message_figure
from ovmlr.trained.model import TrainedC2SRT

logger = logging.getLogger(__name__)

METHOD_LABELS = {
    "c2srt": "C²SRT",
    "zero_shot": "backbone zero-shot",
    "zero_shot_pico": "backbone zero-shot, PICO alignment",
    "mkt_style": "MKT-style",
}


def extract_champion(
    c2srt_champion: TrainedC2SRT, model_name: str, model_alias: str
) -> tuple[Vocabulary, dict[str, Any]]:
    """The registered model's vocabulary, and what identifies the model in the reports.

    Args:
        c2srt_champion: The registered model (``models:/<model_name>@<model_alias>``).
        model_name: Registered model name (for the report only).
        model_alias: Alias the catalog loaded (for the report only).
    """
    info = {
        "name": model_name,
        "alias": model_alias,
        "mode": c2srt_champion.mode,
        "dataset": c2srt_champion.info.get("dataset"),
        "epoch": c2srt_champion.info.get("epoch"),
        "fingerprint": c2srt_champion.info.get("fingerprint"),
        "backbone_id": c2srt_champion.backbone_spec.backbone_id,
    }
    vocabulary = (
        c2srt_champion.dataset_vocabulary
    )  # without labels kept from a parent model: not in this dataset
    logger.info("Evaluating %s@%s: %r", model_name, model_alias, c2srt_champion)
    return vocabulary, info


def encode_for_champion(
    c2srt_champion: TrainedC2SRT,
    evaluation_test_split: FeatureSplit,
    image_manifest: pd.DataFrame,
    image_root: str,
    batch_size: int,
) -> FeatureSplit:
    """The test split's features as the registered model expects them.

    A ``frozen`` model scores the backbone's cached features: the split is returned as it is. A ``finetune``
    model carries its student image encoder, so the test images are re-encoded through it (the baselines
    keep the frozen backbone's features).
    """
    return c2srt_champion.encode_split(evaluation_test_split, image_manifest, image_root, batch_size)


def score_champion(
    c2srt_champion: TrainedC2SRT, evaluation_model_split: FeatureSplit, batch_size: int
) -> pd.DataFrame:
    """Test scores of the registered model (``image_id`` + one column per category)."""
    if batch_size < 1:
        raise ValueError(f"evaluation.batch_size must be >= 1, got {batch_size}")
    return c2srt_champion.score_split(evaluation_model_split, batch_size)


def fit_zero_shot_alignment(
    image_embeddings: Any,
    image_keys: pd.DataFrame,
    train_labels: pd.DataFrame,
    evaluation_vocabulary: Vocabulary,
    text_features: pd.DataFrame,
    baseline_params: dict[str, Any],
    pico_params: dict[str, Any],
) -> PICOWeights:
    """PICO's per-dimension weights for the zero-shot baseline, fitted on the training split only: its frozen
    global features and labels, and the seen categories' text features of the baselines' prompt (the text
    the baseline scores with); ``training.pico`` settings."""
    seen = evaluation_vocabulary.subset("seen")
    text = text_feature_matrix(text_features, seen.category_ids, baseline_params["prompt"])
    image_ids, labels = label_matrix(train_labels, seen.names)
    key_of = image_keys.drop_duplicates("image_id").set_index("image_id")["image_key"]
    cached = np.isin(image_ids, key_of.index.to_numpy())  # global features only: no patch tensor loaded
    train_global = image_embeddings.load_global(key_of.loc[image_ids[cached]].tolist())
    return fit_zero_shot_pico(train_global, labels[cached], text, PICOConfig.from_params(pico_params))


def report_pico_weights(evaluation_pico_weights: PICOWeights) -> tuple[pd.DataFrame, Figure]:
    """The zero-shot baseline's PICO weights per dimension (sorted by p_d) and their plot."""
    table = pico_weights_table(evaluation_pico_weights)
    title = "PICO: semantic probability per embedding dimension (fitted on the training split)"
    return table, plot_pico_weights(table, evaluation_pico_weights, title)


def score_baselines(
    evaluation_test_split: FeatureSplit,
    evaluation_vocabulary: Vocabulary,
    text_features: pd.DataFrame,
    evaluation_pico_weights: PICOWeights,
    baseline_params: dict[str, Any],
    batch_size: int,
    device: str,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Zero-shot (plain and PICO-weighted cosine) and MKT-style test scores from the same cached features
    and the chosen prompt set's text.

    Args:
        evaluation_test_split: Test features and labels over the model's vocabulary.
        evaluation_vocabulary: The model's vocabulary (category order of the scores).
        text_features: Long table of text features (``__ensemble__`` = Eq. 24's prompt ensemble).
        evaluation_pico_weights: PICO weights of the ``zero_shot_pico`` baseline.
        baseline_params: ``prompt`` (template or ``__ensemble__``), ``mkt_k`` (MKT's top-k patches).
        batch_size: Images per batch.
        device: ``cpu``, ``cuda``, ``auto``.

    Returns:
        Method → scores frame, and the settings used (for the summary).
    """
    text = text_feature_matrix(text_features, evaluation_vocabulary.category_ids, baseline_params["prompt"])
    mkt_k = effective_mkt_k(int(baseline_params["mkt_k"]), evaluation_test_split.patch_feats.shape[1])
    scores = baseline_scores(
        evaluation_test_split,
        text,
        mkt_k,
        batch_size,
        resolve_device(device),
        alignment_weights=evaluation_pico_weights.weights,
    )
    frames = {
        m: scores_frame(evaluation_test_split.image_ids, s, evaluation_vocabulary) for m, s in scores.items()
    }
    return frames, {"prompt": baseline_params["prompt"], "mkt_k": mkt_k}


def collect_scores(
    evaluation_champion_scores: pd.DataFrame, evaluation_baseline_scores: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Every method's scores, the registered model first."""
    return {"c2srt": evaluation_champion_scores, **evaluation_baseline_scores}


def _matrices(method_scores: dict[str, pd.DataFrame], split: FeatureSplit, vocabulary: Vocabulary) -> dict:
    return {method: score_matrix(frame, split, vocabulary) for method, frame in method_scores.items()}


def evaluate_methods(
    evaluation_method_scores: dict[str, pd.DataFrame],
    evaluation_test_split: FeatureSplit,
    evaluation_vocabulary: Vocabulary,
    evaluation_model_info: dict[str, Any],
    evaluation_baseline_info: dict[str, Any],
    ks: list[int],
    retrieval_ks: list[int],
) -> dict[str, Any]:
    """ZSL (unseen) and GZSL (seen + unseen) mAP, P/R/F1@K and image↔text retrieval recall@K of every
    method, as a JSON-able summary.

    Raises:
        ValueError: A K of ``evaluation.retrieval_ks`` below 1.
    """
    bad = [k for k in retrieval_ks if int(k) < 1]
    if bad:
        raise ValueError(f"evaluation.retrieval_ks must hold K >= 1, got {bad}")
    unseen = evaluation_vocabulary.unseen_mask
    scores = _matrices(evaluation_method_scores, evaluation_test_split, evaluation_vocabulary)
    methods = {}
    for method, matrix in scores.items():
        metrics = method_metrics(matrix, evaluation_test_split.labels, unseen, ks, retrieval_ks)
        methods[method] = {
            "label": METHOD_LABELS[method],
            "metrics": metrics,
        }
        shown = {k: v if v is None else round(v, 4) for k, v in metrics.items() if "mAP" in k or "F1" in k}
        logger.info("%s: %s", METHOD_LABELS[method], shown)
    return {
        "model": evaluation_model_info,
        "baselines": evaluation_baseline_info,
        "n_images": len(evaluation_test_split),
        "n_categories": len(evaluation_vocabulary),
        "n_unseen": int(unseen.sum()),
        "ks": [int(k) for k in ks],
        "retrieval_ks": [int(k) for k in retrieval_ks],
        "zsl_skipped_ks": split_ks(ks, int(unseen.sum()))[1],
        "methods": methods,
    }


def report_metrics(evaluation_summary: dict[str, Any]) -> tuple[dict[str, dict[str, float]], str]:
    """The summary as MLflow metrics and as a markdown table."""
    return mlflow_metrics(evaluation_summary), metrics_markdown(evaluation_summary)


def compute_category_ap(
    evaluation_method_scores: dict[str, pd.DataFrame],
    evaluation_test_split: FeatureSplit,
    evaluation_vocabulary: Vocabulary,
) -> pd.DataFrame:
    """Per (method, category) AP with the seen / unseen role and the positive count."""
    scores = _matrices(evaluation_method_scores, evaluation_test_split, evaluation_vocabulary)
    return category_ap_table(scores, evaluation_test_split.labels, evaluation_vocabulary)


def choose_report_images(
    evaluation_test_split: FeatureSplit, evaluation_vocabulary: Vocabulary, n_images: int, seed: int
) -> list[str]:
    """The test images shown in the ISR and top-prediction reports (those with an unseen positive first)."""
    split = evaluation_test_split
    return choose_images(split.image_ids, split.labels, evaluation_vocabulary.unseen_mask, n_images, seed)


def select_top_predictions(
    evaluation_method_scores: dict[str, pd.DataFrame],
    evaluation_test_split: FeatureSplit,
    evaluation_vocabulary: Vocabulary,
    evaluation_report_images: list[str],
    top_k: int,
) -> pd.DataFrame:
    """Every method's top-k categories for the report images, with their labels."""
    scores = _matrices(evaluation_method_scores, evaluation_test_split, evaluation_vocabulary)
    return top_predictions_table(
        scores, evaluation_test_split, evaluation_vocabulary, evaluation_report_images, top_k
    )


def select_isr_patches(
    c2srt_champion: TrainedC2SRT,
    evaluation_test_split: FeatureSplit,
    evaluation_report_images: list[str],
    top_categories: int,
    device: str,
) -> pd.DataFrame:
    """The patches ISR selects for each report image's best categories (empty when ISR is off)."""
    return isr_selection_table(
        c2srt_champion,
        evaluation_test_split,
        evaluation_report_images,
        top_categories,
        resolve_device(device),
    )


def select_ist_attention(
    c2srt_champion: TrainedC2SRT,
    evaluation_model_split: FeatureSplit,
    targets: list[str] | None,
    max_targets: int,
    max_images: int,
    seed: int,
    batch_size: int,
    device: str,
) -> pd.DataFrame:
    """IST's attention of the target categories over their neighbours (Fig. 7; empty when IST is off).

    Args:
        c2srt_champion: The registered model.
        evaluation_model_split: The test split as the model sees it.
        targets: Category names; ``None`` = the unseen categories.
        max_targets: At most this many targets.
        max_images: Test images averaged over (a seeded subsample beyond this).
        seed: Seed of the image subsample.
        batch_size: Images per forward pass.
        device: ``cpu``, ``cuda``, ``auto``.

    Returns:
        One row per (layer, target, neighbour slot k): α and its std over the images.
    """
    return attention_report(
        c2srt_champion,
        evaluation_model_split,
        targets,
        int(max_targets),
        int(max_images),
        int(seed),
        int(batch_size),
        resolve_device(device),
    )


def plot_pr_curves(
    evaluation_method_scores: dict[str, pd.DataFrame],
    evaluation_test_split: FeatureSplit,
    evaluation_vocabulary: Vocabulary,
    pr_params: dict[str, Any],
    seed: int,
) -> Figure:
    """Seen / unseen precision-recall curves (``pr_params``: ``max_images``, ``max_category_curves``)."""
    scores = _matrices(evaluation_method_scores, evaluation_test_split, evaluation_vocabulary)
    rows = subsample_rows(len(evaluation_test_split), int(pr_params["max_images"]), seed)
    return plot_precision_recall(
        {method: matrix[rows] for method, matrix in scores.items()},
        evaluation_test_split.labels[rows],
        evaluation_vocabulary.unseen_mask,
        METHOD_LABELS,
        int(pr_params["max_category_curves"]),
    )


def plot_category_ap_bars(evaluation_category_ap: pd.DataFrame, ap_params: dict[str, Any]) -> Figure:
    """C²SRT's per-category AP beside a reference method's (``ap_params``: reference, max_categories)."""
    return plot_category_ap(
        evaluation_category_ap,
        "c2srt",
        ap_params["reference"],
        METHOD_LABELS,
        int(ap_params["max_categories"]),
    )


def plot_isr_patches(
    evaluation_isr_selection: pd.DataFrame,
    image_manifest: pd.DataFrame,
    evaluation_model_split: FeatureSplit,
    crop: str,
) -> Figure:
    """The report images with ISR's selected patches per top category (a notice if the model has no ISR)."""
    title = "ISR patch selection"
    if evaluation_isr_selection.empty:
        return message_figure(title, "The evaluated model has ISR off (use_isr=false): no patch selection.")
    image_ids = list(dict.fromkeys(evaluation_isr_selection["image_id"]))
    images = read_manifest_images(image_manifest, image_ids)
    return plot_isr_selection(
        images, evaluation_isr_selection, evaluation_model_split.patch_feats.shape[1], crop
    )


def plot_ist_attention(evaluation_ist_attention: pd.DataFrame, layer: int | None) -> Figure:
    """Fig. 7's heatmap of one IST layer (``None`` = the last); a notice if the model has no IST."""
    if evaluation_ist_attention.empty:
        return message_figure(
            "IST attention over the mined neighbours",
            "No IST in this model (use_ist=false or head mkt): no attention to show.",
        )
    return attention_heatmap(evaluation_ist_attention, None if layer is None else int(layer))


def plot_relation_neighbourhoods(
    relation_edges: pd.DataFrame, evaluation_vocabulary: Vocabulary, graph_params: dict[str, Any]
) -> Figure:
    """Mined relation graphs of a few categories (``graph_params``: targets, max_targets, n_cols)."""
    targets = choose_relation_targets(
        evaluation_vocabulary, graph_params.get("targets"), int(graph_params["max_targets"])
    )
    unseen = [
        n
        for n, r in zip(evaluation_vocabulary.names, evaluation_vocabulary.roles, strict=True)
        if r == "unseen"
    ]
    return plot_relation_graphs(relation_edges, targets, unseen, int(graph_params["n_cols"]))


def plot_top_predictions_grid(
    evaluation_top_predictions: pd.DataFrame,
    evaluation_test_split: FeatureSplit,
    evaluation_vocabulary: Vocabulary,
    image_manifest: pd.DataFrame,
) -> Figure:
    """The report images with every method's top-k categories marked correct / incorrect / unseen."""
    image_ids = list(dict.fromkeys(evaluation_top_predictions["image_id"]))
    rows = row_positions(evaluation_test_split, image_ids)
    names = np.array(evaluation_vocabulary.names)
    positives = {
        i: names[evaluation_test_split.labels[r] == 1].tolist() for i, r in zip(image_ids, rows, strict=True)
    }
    images = read_manifest_images(image_manifest, image_ids)
    return plot_top_predictions(images, evaluation_top_predictions, positives, METHOD_LABELS)
