"""The MLflow model of a :class:`~ovmlr.multimodal.trained.TrainedCSCF`: per-modality features in, scores out.

Input: a DataFrame with one row per sample and one column per modality of the model, each cell the sample's
feature vector from that modality's encoder (a list of floats); a missing cell (null or empty list) means the
modality is absent for that sample, which the fusion rule handles. Params: ``method`` (``cscf`` by default, or
``decision``, ``late_mean``, ``late_max``, a modality's name) and ``top_k``. Output: one column per category,
then ``top_labels`` and ``top_scores``. Logged as *models from code* with the model folder as its artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec

from ovmlr.trained.pyfunc import DEFAULT_TOP_K, bad_request, prediction_frame

from .data import ModalityBatch
from .trained import TrainedCSCF

ARTIFACT_KEY = "cscf_model"


def entry_point() -> str:
    """The models-from-code file that builds the pyfunc model."""
    return str(Path(__file__).with_name("mlflow_entry.py"))


def model_signature() -> ModelSignature:
    """Params ``method`` and ``top_k``; the input columns are the model's modalities (not fixed here)."""
    params = ParamSchema([ParamSpec("method", "string", "cscf"), ParamSpec("top_k", "long", DEFAULT_TOP_K)])
    return ModelSignature(inputs=None, params=params)


def request_batch(model_input: pd.DataFrame, model: TrainedCSCF) -> ModalityBatch:
    """A :class:`ModalityBatch` from a request; HTTP 400 naming the column or row that is wrong."""
    if not isinstance(model_input, pd.DataFrame) or model_input.empty:
        raise bad_request(
            f"the request has no rows: send one sample per row, columns {list(model.modalities)}"
        )
    known = [m for m in model.modalities if m in model_input.columns]
    if not known:
        raise bad_request(
            f"no modality column in the request (columns {list(model_input.columns)}); "
            f"expected some of {list(model.modalities)}"
        )
    features, present = {}, {}
    for m in model.modalities:
        dim = int(model.aligner.aligners[m].encode[0].normalized_shape[0])
        out = np.zeros((len(model_input), dim), dtype=np.float32)
        flags = np.zeros(len(model_input), dtype=bool)
        for i, cell in enumerate(model_input[m] if m in model_input.columns else [None] * len(model_input)):
            if cell is None or (not isinstance(cell, list | tuple | np.ndarray)) or len(cell) == 0:
                continue
            if len(cell) != dim:
                raise bad_request(f"row {i} column {m!r} has {len(cell)} values; the model expects {dim}")
            out[i], flags[i] = np.asarray(cell, dtype=np.float32), True
        features[m], present[m] = out, flags
    return ModalityBatch(np.arange(len(model_input)).astype(str).astype(object), features, present)


class TrainedCSCFPyfunc(mlflow.pyfunc.PythonModel):
    """Scores per-modality features with a :class:`TrainedCSCF` (loaded from the model's artifact)."""

    def __init__(self, trained: TrainedCSCF | None = None) -> None:
        self.trained = trained

    def load_context(self, context: Any) -> None:
        from .trained import load_cscf

        self.trained = load_cscf(context.artifacts[ARTIFACT_KEY])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        method = str(params.get("method") or "cscf")
        top_k = int(params.get("top_k") or DEFAULT_TOP_K)
        batch = request_batch(model_input, self.trained)
        try:
            scores = self.trained.score(batch, method)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return prediction_frame(self.trained.names, scores, top_k)
