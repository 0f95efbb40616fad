"""Nodes of the ``export`` pipeline: thin adapters over :mod:`ovmlr.trained.export`."""

from __future__ import annotations

import logging
from typing import Any

from ovmlr.trained.export import check_export, export_onnx, export_sidecar
from ovmlr.trained.labels import LabelSet, read_label_names
from ovmlr.trained.model import TrainedC2SRT

logger = logging.getLogger(__name__)


def export_label_set(export_model: TrainedC2SRT, labels: str | list[str] | None) -> LabelSet:
    """The labels the exported graph scores: the model's vocabulary (``labels`` null), or the names given
    (a list, a text file, or ``a|b|c``: :func:`~ovmlr.trained.labels.read_label_names`).

    Names outside the training vocabulary get their text features from the model's text tower and their
    IST neighbours by text similarity, now: the graph holds them as constants.
    """
    names = read_label_names(labels) if labels else None
    label_set = export_model.labels(names, policy="similarity")
    new = sum(policy != "training" for policy in label_set.policies)
    logger.info(
        "export: %d labels (%d new names), %d scored in all", len(label_set), new, len(label_set.vocabulary)
    )
    return label_set


def export_onnx_model(
    export_model: TrainedC2SRT, export_label_set: LabelSet, tolerance: float
) -> tuple[bytes, dict[str, Any]]:
    """The ONNX model and its sidecar, checked against the PyTorch model on a seeded batch.

    Raises:
        ValueError: onnxruntime and PyTorch disagree by more than ``tolerance`` (a score).
    """
    model = export_onnx(export_model, export_label_set)
    diff = check_export(export_model, export_label_set, model)
    if diff > tolerance:
        raise ValueError(f"export: onnxruntime differs from PyTorch by {diff:.3g} > tolerance {tolerance}")
    sidecar = export_sidecar(export_model, export_label_set, diff)
    logger.info(
        "export: ONNX model of %.1f MB over %d labels; onnxruntime vs PyTorch max |diff| %.2g%s",
        len(model) / 1e6,
        len(export_label_set),
        diff,
        ", thresholds included" if "thresholds" in sidecar else "",
    )
    return model, sidecar
