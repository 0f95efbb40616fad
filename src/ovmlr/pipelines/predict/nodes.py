"""Nodes of the ``predict`` pipeline: a trained model tags a folder of images with any label names.

Thin adapters over :class:`~ovmlr.trained.model.TrainedC2SRT`: image files are found and hashed, the images
not in the prediction embedding cache (keyed by the model's image encoder and the file content) are encoded
shard by shard, then every image is scored over the requested labels.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ovmlr.backbones.images import hash_files
from ovmlr.core.features import EmbeddingChunk
from ovmlr.core.thresholds import check_threshold
from ovmlr.datasets.embedding_cache import EmbeddingStores
from ovmlr.reporting.contact_sheet import plot_contact_sheet
from ovmlr.reporting.explanation import plot_explanation
from ovmlr.reporting.progress import refresh_interval
from ovmlr.trained.explain import explain, model_view
from ovmlr.trained.images import UserImageDataset, find_images, open_image
from ovmlr.trained.labels import LabelSet, read_label_names
from ovmlr.trained.limits import ServingLimits
from ovmlr.trained.llm_policy import LLMNeighbourSource
from ovmlr.trained.model import TrainedC2SRT
from ovmlr.trained.pyfunc import prediction_frame

logger = logging.getLogger(__name__)

REPORT_COLUMNS = ["path", "reason"]


def list_prediction_images(images: str | list[str]) -> pd.DataFrame:
    """Every image file of ``predict.images`` (folder, glob or list) with its content key.

    Returns:
        ``path``, ``image_key`` (SHA-256 of the bytes; ``None`` when unreadable), ``error``.
    """
    paths = find_images(images)
    hashes = hash_files(paths, num_workers=4)
    logger.info("predict: %d image files", len(paths))
    return pd.concat([pd.DataFrame({"path": paths}), hashes], axis=1)


def prepare_labels(
    predict_model: TrainedC2SRT,
    labels: str | list[str],
    policy: str,
    llm_backend: Any,
    llm_response_cache: pd.DataFrame,
    llm_params: dict[str, Any],
) -> tuple[LabelSet, pd.DataFrame, pd.DataFrame]:
    """The label set to score, its table (policy and neighbours of every label), and new LLM answers.

    Args:
        predict_model: The trained model.
        labels: ``predict.labels``.
        policy: ``similarity`` or ``llm`` (neighbours of names outside the training vocabulary).
        llm_backend: The chat LLM (used by the ``llm`` policy only).
        llm_response_cache: The LLM answers cached so far.
        llm_params: ``relation_mining.llm`` (the relation prompt's settings).
    """
    names = read_label_names(labels)
    source = LLMNeighbourSource(llm_backend, llm_response_cache, llm_params) if policy == "llm" else None
    label_set = predict_model.labels(names, policy=policy, llm=source)
    table = label_set.table()
    counts = table["policy"].value_counts().to_dict()
    logger.info(
        "predict: %d labels (%s)", len(label_set), ", ".join(f"{v} by {k}" for k, v in counts.items())
    )
    new_rows = source.new_cache_rows() if source is not None else LLMNeighbourSource.empty_rows()
    return label_set, table, new_rows


def _progress(total: int, desc: str) -> tqdm:
    """A progress bar that redraws at most every 5 s when the log is not a terminal."""
    return tqdm(total=total, unit="img", desc=desc, mininterval=refresh_interval())


@torch.inference_mode()
def encode_prediction_images(
    predict_model: TrainedC2SRT,
    prediction_images: pd.DataFrame,
    prediction_embedding_index: EmbeddingStores,
    params: dict[str, Any],
) -> Iterator[EmbeddingChunk]:
    """Encode the readable images not in the prediction cache yet (one cache shard per ``chunk_size``).

    A fine-tuned model with an output ensemble also needs the frozen backbone's features (its zero-shot
    term): those are cached under the backbone's own id, as a frozen model's would be. An image that cannot
    be used (``params['max_image_pixels']``: the pixel limit, checked from its header) is cached with its
    reason, which names no file: the same bytes in another folder are reported under their own path.

    Yields:
        :class:`EmbeddingChunk` s of the model's encoder, one per ``chunk_size`` images (an empty one when
        nothing is new): an interrupted run keeps the shards written so far.
    """
    encoders = [(predict_model.encoder_id, predict_model.encode_images)]
    if predict_model.needs_frozen_global:
        encoders.append((predict_model.backbone_spec.backbone_id, predict_model.encode_frozen_images))
    readable = prediction_images[prediction_images["error"].isna()].drop_duplicates("image_key")
    for encoder_id, encode in encoders:
        cached = prediction_embedding_index.store(encoder_id).status()
        todo = readable[~readable["image_key"].isin(cached["image_key"])]
        logger.info(
            "predict: %d new images to encode with %s (%d cached)",
            len(todo),
            encoder_id,
            len(readable) - len(todo),
        )
        if todo.empty:
            yield EmbeddingChunk.empty(encoder_id, 0, 0)
            continue
        yield from _encode_new(predict_model, encoder_id, encode, todo, params)


def _encode_new(
    predict_model: TrainedC2SRT, encoder_id: str, encode: Any, todo: pd.DataFrame, params: dict[str, Any]
) -> Iterator[EmbeddingChunk]:
    """Chunks of ``encode(images) -> (global, patches)`` over the ``todo`` images."""
    backbone = predict_model.backbone()
    size = backbone.model.visual.image_size
    size = tuple(size) if isinstance(size, tuple | list) else (size, size)
    max_pixels = params.get("max_image_pixels", ServingLimits().max_image_pixels)
    dataset = UserImageDataset(todo["path"].tolist(), predict_model.preprocess, size, max_pixels)
    loader = DataLoader(dataset, batch_size=int(params["batch_size"]), num_workers=int(params["num_workers"]))
    keys, done, buffer = todo["image_key"].tolist(), 0, []
    chunk_size = int(params.get("chunk_size", 1024))
    with _progress(len(todo), "predict: images") as bar:
        for images, errors in loader:
            g, p = encode(images)
            buffer.append((keys[done : done + len(errors)], g, p, [e or None for e in errors]))
            done += len(errors)
            bar.update(len(errors))
            if sum(len(b[0]) for b in buffer) >= chunk_size or done == len(todo):
                yield _chunk(encoder_id, buffer)
                buffer = []


def _chunk(encoder_id: str, buffer: list[tuple[list[str], np.ndarray, np.ndarray, list]]) -> EmbeddingChunk:
    """One cache shard of the buffered batches."""
    return EmbeddingChunk(
        encoder_id,
        [k for b in buffer for k in b[0]],
        np.concatenate([b[1] for b in buffer]),
        np.concatenate([b[2] for b in buffer]),
        [e for b in buffer for e in b[3]],
    )


def _frozen_global(model: TrainedC2SRT, stores: EmbeddingStores, keys: list[str]) -> np.ndarray | None:
    """The frozen backbone's global features of ``keys`` when the model's zero-shot term needs them."""
    if not model.needs_frozen_global:
        return None
    return stores.store(model.backbone_spec.backbone_id).load(keys)[0]


def score_prediction_images(
    predict_model: TrainedC2SRT,
    prediction_label_set: LabelSet,
    prediction_images: pd.DataFrame,
    prediction_embeddings: EmbeddingStores,
    top_k: int,
    batch_size: int,
    threshold: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores of every readable image over the labels, its tags, the same for people, and the skipped images.

    Args:
        threshold: ``predict.threshold``: one decision threshold for every label; ``None``: the model's
            calibrated thresholds (:meth:`TrainedC2SRT.tags`).

    Returns:
        ``(predictions, predictions_csv, skipped)``: ``path``, one column per label, ``top_labels``,
        ``top_scores``, ``tags``; a CSV-friendly copy (lists joined with ``|``); ``path`` + ``reason`` of each
        image that could not be used.

    Raises:
        ValueError: ``predict.threshold`` is not a finite number.
    """
    threshold = check_threshold(threshold, "predict.threshold")
    store = prediction_embeddings.store(predict_model.encoder_id)
    status = store.status().set_index("image_key")["error"]
    frame = prediction_images.assign(reason=prediction_images["error"])
    cache_error = frame["image_key"].map(status)
    frame["reason"] = frame["reason"].where(frame["reason"].notna(), cache_error)
    ok = frame["reason"].isna() & frame["image_key"].isin(status.index)
    skipped = frame.loc[~ok, REPORT_COLUMNS].assign(reason=lambda f: f["reason"].fillna("not encoded"))
    for row in skipped.itertuples(index=False):
        logger.warning("predict: skipped %s: %s", row.path, row.reason)
    used = frame[ok].reset_index(drop=True)
    g, p = store.load(used["image_key"].tolist())
    if len(used):
        frozen = _frozen_global(predict_model, prediction_embeddings, used["image_key"].tolist())
        scores = predict_model.score(g, p, prediction_label_set, batch_size, frozen_global=frozen)
    else:
        scores = np.zeros((0, len(prediction_label_set)), dtype=np.float32)
    tags = predict_model.tags(prediction_label_set.names, scores, threshold)
    table = prediction_frame(prediction_label_set.names, scores, top_k, tags)
    table.insert(0, "path", used["path"].to_numpy())
    people = table.assign(
        top_labels=table["top_labels"].map(" | ".join),
        tags=table["tags"].map(" | ".join),
        top_scores=table["top_scores"].map(lambda s: " | ".join(f"{x:.4f}" for x in s)),
    )
    logger.info(
        "predict: %d images scored over %d labels (%s), %.2f tags per image, %d skipped",
        len(table),
        len(prediction_label_set),
        "calibrated thresholds" if threshold is None else f"threshold {threshold:g}",
        float(np.mean([len(t) for t in tags])) if tags else 0.0,
        len(skipped),
    )
    return table, people, skipped.reset_index(drop=True)


def plot_prediction_sheet(predictions: pd.DataFrame, sheet_params: dict[str, Any]) -> Figure:
    """The first ``max_images`` images with their top labels (``sheet_params``: max_images, n_cols, top_k)."""
    shown = predictions.head(int(sheet_params["max_images"]))
    images = {path: np.asarray(open_image(path)) for path in shown["path"]}
    title = f"Top labels of {len(shown)} of {len(predictions)} images"
    return plot_contact_sheet(shown, images, int(sheet_params["n_cols"]), int(sheet_params["top_k"]), title)


def figure_name(index: int, path: str) -> str:
    """``0003_<file stem>.png``: a safe, unique file name for the figure of the ``index``-th image."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:80]
    return f"{index:04d}_{stem}.png"


def explain_predictions(
    predict_model: TrainedC2SRT,
    prediction_label_set: LabelSet,
    prediction_images: pd.DataFrame,
    predictions: pd.DataFrame,
    prediction_embeddings: EmbeddingStores,
    enabled: bool,
    figure_params: dict[str, Any],
) -> dict[str, Figure]:
    """With ``predict.explain``, a figure per scored image: why it got its top labels (ISR heat map, IST
    neighbours; :func:`~ovmlr.trained.explain.explain`), keyed by file name; none without it.

    Args:
        enabled: ``predict.explain``.
        figure_params: ``predict.explanation``: ``max_images`` (figures), ``top_labels`` (rows per figure).
    """
    if not enabled or predictions.empty:
        return {}
    shown = predictions.head(int(figure_params["max_images"]))
    keys = (
        prediction_images.drop_duplicates("path").set_index("path").loc[shown["path"], "image_key"].tolist()
    )
    g, p = prediction_embeddings.store(predict_model.encoder_id).load(keys)
    frozen = None
    if predict_model.needs_frozen_global:
        frozen, _ = prediction_embeddings.store(predict_model.backbone_spec.backbone_id).load(keys)
    explained = explain(predict_model, g, p, prediction_label_set, frozen_global=frozen)
    figures = {}
    for index, (path, image) in enumerate(zip(shown["path"], explained, strict=True)):
        view = model_view(predict_model, open_image(path))
        figures[figure_name(index, path)] = plot_explanation(
            view, image, str(path), int(figure_params["top_labels"])
        )
    logger.info("predict: %d explanation figures", len(figures))
    return figures
