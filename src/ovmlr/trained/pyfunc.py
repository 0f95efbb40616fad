"""The MLflow model of a :class:`~ovmlr.trained.model.TrainedC2SRT`: raw images in, scores for any labels out.

Input: a DataFrame with one image per row, column ``image`` (base64 text of the file's bytes: JPEG, PNG,
WebP, …) or ``path`` (a file on the serving machine, for local use). Params at predict time (MLflow's
signature params): ``labels`` (a list of names; empty or absent: the model's own vocabulary) and ``top_k``.
Output: one column per label (its score), then ``top_labels`` and ``top_scores`` (the K best, best first).

Logged as *models from code* (:mod:`ovmlr.trained.mlflow_entry`) with the saved model folder as its only
artifact: nothing is pickled. Serve it with
``mlflow models serve -m models:/<name>@champion --env-manager local`` and ``POST /invocations``
``{"dataframe_records": [{"image": "<base64>"}], "params": {"labels": ["cat", "dog"], "top_k": 3}}``.
"""

from __future__ import annotations

from collections import OrderedDict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from .images import image_from_bytes, open_image
from .labels import LabelSet
from .model import TrainedC2SRT

ARTIFACT_KEY = "trained_model"
DEFAULT_TOP_K = 5
TOP_COLUMNS = ("top_labels", "top_scores")
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
    """One image per row (``image`` base64 or ``path``), params ``labels`` and ``top_k``."""
    inputs = Schema([ColSpec("string", "image", required=False), ColSpec("string", "path", required=False)])
    params = ParamSchema(
        [ParamSpec("labels", "string", [], (-1,)), ParamSpec("top_k", "long", DEFAULT_TOP_K)]
    )
    return ModelSignature(inputs=inputs, params=params)


def bad_request(message: str) -> MlflowException:
    """An error the scoring server answers with HTTP 400 and ``message``."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def read_images(model_input: pd.DataFrame) -> list[Any]:
    """The RGB images of a request, row by row.

    Raises:
        MlflowException: (HTTP 400) no rows, no ``image``/``path`` column, or a row that is not an image.
    """
    if not isinstance(model_input, pd.DataFrame) or model_input.empty:
        raise bad_request("the request has no rows: send one image per row (column 'image' or 'path')")
    columns = [c for c in ("image", "path") if c in model_input.columns]
    if not columns:
        raise bad_request(
            f"no 'image' or 'path' column in the request (columns: {list(model_input.columns)})"
        )
    images = []
    for i, row in enumerate(model_input.to_dict("records")):
        image, path = row.get("image"), row.get("path")
        try:
            if isinstance(image, str | bytes) and len(image):
                images.append(image_from_bytes(image, where=f"row {i} 'image'"))
            elif isinstance(path, str) and path:
                images.append(open_image(path))
            else:
                raise ValueError(f"row {i} has neither an 'image' nor a 'path'")
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
    return images


def prediction_frame(names: tuple[str, ...], scores: np.ndarray, top_k: int) -> pd.DataFrame:
    """One score column per label, then the ``top_k`` best labels and their scores per image."""
    frame = pd.DataFrame(scores.astype(np.float64), columns=list(names))
    k = min(top_k, len(names))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    frame["top_labels"] = [[names[j] for j in row] for row in order]
    frame["top_scores"] = [[float(scores[i, j]) for j in row] for i, row in enumerate(order)]
    return frame


class TrainedC2SRTPyfunc(mlflow.pyfunc.PythonModel):
    """Scores raw images over any labels with a :class:`TrainedC2SRT` (loaded from the model's artifact).

    Args:
        trained: The model, for in-process use; a logged model loads it in :meth:`load_context`.
        max_label_sets: Label lists kept prepared (text features and neighbours) between requests.
    """

    def __init__(self, trained: TrainedC2SRT | None = None, max_label_sets: int = 32) -> None:
        self.trained = trained
        self.max_label_sets = max_label_sets
        self._label_sets: OrderedDict[tuple[str, ...], LabelSet] = OrderedDict()

    def load_context(self, context: Any) -> None:
        from .artifact import load_trained

        self.trained = load_trained(context.artifacts[ARTIFACT_KEY])

    def label_set(self, labels: Any) -> LabelSet:
        """The prepared label set of a request's ``labels`` (the model's vocabulary when empty)."""
        if labels is None or (isinstance(labels, list | tuple | np.ndarray) and len(labels) == 0):
            return self.trained.labels()
        if isinstance(labels, np.ndarray):
            labels = labels.tolist()
        if not isinstance(labels, list | tuple):
            raise bad_request(f"params 'labels' must be a list of label names, got {type(labels).__name__}")
        key = tuple(labels)
        if key not in self._label_sets:
            try:
                self._label_sets[key] = self.trained.labels(list(labels))
            except ValueError as exc:
                raise bad_request(str(exc)) from exc
            while len(self._label_sets) > self.max_label_sets:
                self._label_sets.popitem(last=False)
        self._label_sets.move_to_end(key)
        return self._label_sets[key]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Scores of every image of ``model_input`` over ``params['labels']``, with the top ``top_k``."""
        params = params or {}
        top_k = params.get("top_k", DEFAULT_TOP_K)
        if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
            raise bad_request(f"params 'top_k' must be a positive integer, got {top_k!r}")
        labels = self.label_set(params.get("labels"))
        images = read_images(model_input)
        g, p = self.trained.encode_images(images)
        frozen = self.trained.encode_frozen_global(images) if self.trained.needs_frozen_global else None
        return prediction_frame(
            labels.names, self.trained.score(g, p, labels, frozen_global=frozen), int(top_k)
        )
