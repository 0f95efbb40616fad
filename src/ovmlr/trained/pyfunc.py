"""The MLflow model of a :class:`~ovmlr.trained.model.TrainedC2SRT`: raw images in, scores for any labels out.

Input: a DataFrame with one image per row, column ``image`` (base64 text of the file's bytes: JPEG, PNG,
WebP, …) or ``path`` (a file on the serving machine: off unless its operator allows one folder,
``OVMLR_SERVE_PATH_ROOT``). Params at predict time (MLflow's signature params): ``labels`` (a list of names;
empty or absent: the model's own vocabulary), ``top_k`` and ``threshold`` (one decision threshold for every
label, instead of the model's calibrated ones). Output: one column per label (its score), then
``top_labels`` and ``top_scores`` (the K best, best first) and ``tags`` (the labels at or above their
threshold, best first: :meth:`TrainedC2SRT.tags`).

Safe by default: the limits on rows, labels, label length, pixels and request size, and the path rule,
are the :class:`~ovmlr.trained.limits.ServingLimits` of the serving machine (its ``OVMLR_*`` environment
variables, read when the model is loaded), never a request's. A request over a limit gets HTTP 400 naming
the limit.

Logged as *models from code* (:mod:`ovmlr.trained.mlflow_entry`) with the saved model folder as its only
artifact: nothing is pickled. Serve it with
``mlflow models serve -m models:/<name>@champion --env-manager local`` and ``POST /invocations``
``{"dataframe_records": [{"image": "<base64>"}], "params": {"labels": ["cat", "dog"], "top_k": 3}}``
(add ``"threshold": 0.3`` to tag with one threshold).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from PIL import Image

from ovmlr.backbones.text_cache import ENV_VAR as TEXT_CACHE_ENV
from ovmlr.core.thresholds import check_threshold

from .images import image_from_bytes, open_image
from .labels import LabelSet, LabelSetCache, check_labels
from .limits import ServingLimits
from .model import TrainedC2SRT

logger = logging.getLogger(__name__)

ARTIFACT_KEY = "trained_model"
DEFAULT_TOP_K = 5
TOP_COLUMNS = ("top_labels", "top_scores")
TAGS_COLUMN = "tags"
# Third-party distributions the served model imports (open_clip and its towers, the head, images, parquet).
MODEL_DISTRIBUTIONS = (
    "torch",
    "torchvision",
    "open_clip_torch",
    "timm",
    "transformers",
    "safetensors",
    "torch_geometric",
    "numpy",
    "pandas",
    "pyarrow",
    "pillow",
    "tqdm",
)


def model_requirements() -> list[str]:
    """``pip_requirements`` of the logged model: :data:`MODEL_DISTRIBUTIONS` at their installed versions."""
    return [f"{name}=={version(name)}" for name in MODEL_DISTRIBUTIONS]


def model_code_paths() -> list[str]:
    """``code_paths`` of the logged model: the ``ovmlr`` package."""
    return [str(Path(__file__).resolve().parents[1])]


def entry_point() -> str:
    """The models-from-code file that builds the pyfunc model."""
    return str(Path(__file__).with_name("mlflow_entry.py"))


def model_signature() -> ModelSignature:
    """One image per row (``image`` base64 or ``path``), params ``labels``, ``top_k`` and ``threshold``."""
    inputs = Schema([ColSpec("string", "image", required=False), ColSpec("string", "path", required=False)])
    params = ParamSchema(
        [
            ParamSpec("labels", "string", [], (-1,)),
            ParamSpec("top_k", "long", DEFAULT_TOP_K),
            ParamSpec("threshold", "double", None),
        ]
    )
    return ModelSignature(inputs=inputs, params=params)


def bad_request(message: str) -> MlflowException:
    """An error the scoring server answers with HTTP 400 and ``message``."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def request_frame(model_input: pd.DataFrame) -> pd.DataFrame:
    """The request's rows, refusing a request with no row or no ``image``/``path`` column.

    Raises:
        MlflowException: (HTTP 400) naming what is missing.
    """
    if not isinstance(model_input, pd.DataFrame) or model_input.empty:
        raise bad_request("the request has no rows: send one image per row (column 'image' or 'path')")
    if not {"image", "path"} & set(model_input.columns):
        raise bad_request(
            f"no 'image' or 'path' column in the request (columns: {list(model_input.columns)})"
        )
    return model_input


def request_bytes(frame: pd.DataFrame, labels: list[str] | None) -> int:
    """Characters of the request's ``image`` and ``path`` cells and label names (its body, less the JSON)."""
    cells = [v for c in ("image", "path") if c in frame.columns for v in frame[c]]
    return sum(len(v) for v in [*cells, *(labels or [])] if isinstance(v, str | bytes))


def read_images(frame: pd.DataFrame, limits: ServingLimits) -> Iterator[Image.Image]:
    """The RGB images of a request, one row at a time (only one full-size image is decoded at a time).

    Raises:
        MlflowException: (HTTP 400) a row that is not an image, has too many pixels, or names a path the
            server may not read (:meth:`ServingLimits.resolve_path`).
    """
    for i, row in enumerate(frame.to_dict("records")):
        image, path = row.get("image"), row.get("path")
        try:
            if isinstance(path, str) and path and not (isinstance(image, str | bytes) and len(image)):
                try:
                    resolved = limits.resolve_path(path)
                except ValueError as exc:
                    raise ValueError(f"row {i} 'path': {exc}") from exc
                yield open_image(resolved, limits.max_image_pixels, where=f"row {i} 'path' {path!r}")
            elif isinstance(image, str | bytes):  # an empty one too: refused with its reason
                yield image_from_bytes(image, f"row {i} 'image'", limits.max_image_pixels)
            else:
                raise ValueError(f"row {i} has neither an 'image' nor a 'path'")
        except ValueError as exc:
            raise bad_request(str(exc)) from exc


def label_names(labels: Any) -> list[str] | None:
    """``params['labels']`` as a list (``None``: absent or empty, the model's own vocabulary).

    Raises:
        MlflowException: (HTTP 400) when it is not a list.
    """
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if labels is None or (isinstance(labels, list | tuple) and len(labels) == 0):
        return None
    if not isinstance(labels, list | tuple):
        raise bad_request(f"params 'labels' must be a list of label names, got {type(labels).__name__}")
    return list(labels)


def threshold_param(value: Any) -> float | None:
    """``params['threshold']``: ``None`` (the model's calibrated thresholds) or one finite number.

    Raises:
        MlflowException: (HTTP 400) naming the value when it is not a finite number.
    """
    try:
        return check_threshold(value, "params 'threshold'")
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


def prediction_frame(
    names: tuple[str, ...], scores: np.ndarray, top_k: int, tags: list[list[str]] | None = None
) -> pd.DataFrame:
    """One score column per label, then the ``top_k`` best labels and their scores per image, and its
    ``tags`` when given (:meth:`TrainedC2SRT.tags`)."""
    frame = pd.DataFrame(scores.astype(np.float64), columns=list(names))
    k = min(top_k, len(names))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    frame["top_labels"] = [[names[j] for j in row] for row in order]
    frame["top_scores"] = [[float(scores[i, j]) for j in row] for i, row in enumerate(order)]
    if tags is not None:
        frame[TAGS_COLUMN] = tags
    return frame


class TrainedC2SRTPyfunc(mlflow.pyfunc.PythonModel):
    """Scores raw images over any labels with a :class:`TrainedC2SRT` (loaded from the model's artifact).

    Args:
        trained: The model, for in-process use; a logged model loads it in :meth:`load_context`.
        limits: The limits and the path rule (default: the ``OVMLR_*`` environment variables of the machine
            that builds this object: the server's, when it loads the model).
    """

    def __init__(self, trained: TrainedC2SRT | None = None, limits: ServingLimits | None = None) -> None:
        self.trained = trained
        self.limits = limits if limits is not None else ServingLimits.from_env()
        self._label_sets = LabelSetCache(self.limits.label_cache_entries, self.limits.label_cache_bytes)

    def load_context(self, context: Any) -> None:
        from .artifact import load_trained

        self.trained = load_trained(context.artifacts[ARTIFACT_KEY])
        self.trained.use_text_cache(os.environ.get(TEXT_CACHE_ENV) or None)  # new names encoded once
        self.trained.head(), self.trained.image_encoder()  # built once, before concurrent requests
        if self.trained.thresholds is None:
            logger.warning(
                "this model has no calibrated thresholds (trained before calibration): its 'tags' stay empty "
                "unless a request gives params 'threshold'"
            )

    def label_set(self, labels: list[str] | None) -> LabelSet:
        """The prepared label set of a request's ``labels`` (the model's vocabulary when ``None``).

        Raises:
            MlflowException: (HTTP 400) a bad label list (empty or duplicated names, not strings).
        """
        if labels is None:
            return self.trained.labels()
        try:
            names = check_labels(labels)
            return self._label_sets.get(names, lambda: self.trained.labels(list(names)))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Scores of every image of ``model_input`` over ``params['labels']``, with the top ``top_k`` and
        the tags (calibrated thresholds, or ``params['threshold']``).

        Raises:
            MlflowException: (HTTP 400) a bad request or one over a limit, naming the problem.
        """
        params = params or {}
        top_k = params.get("top_k", DEFAULT_TOP_K)
        if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
            raise bad_request(f"params 'top_k' must be a positive integer, got {top_k!r}")
        threshold = threshold_param(params.get("threshold"))
        frame, labels = request_frame(model_input), label_names(params.get("labels"))
        try:
            self.limits.check_request(len(frame), request_bytes(frame, labels), labels)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        label_set = self.label_set(labels)
        batch = torch.stack([self.trained.preprocess(image) for image in read_images(frame, self.limits)])
        g, p = self.trained.encode_images(batch)
        frozen = self.trained.encode_frozen_global(batch) if self.trained.needs_frozen_global else None
        scores = self.trained.score(g, p, label_set, frozen_global=frozen)
        tags = self.trained.tags(label_set.names, scores, threshold)
        return prediction_frame(label_set.names, scores, int(top_k), tags)
