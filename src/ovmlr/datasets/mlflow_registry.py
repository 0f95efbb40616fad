"""Log a pyfunc model, register it in the MLflow model registry and move its aliases.

Every saved model version gets the alias ``candidate``. ``champion`` moves to it only when its validation
metric beats the current champion's (higher is better), when there is no champion yet, or when the request
says ``force_champion``. The decision and its reason are logged, set as tags on the version and on the run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

VAL_METRIC_TAG = "ovmlr.selection_metric"
VAL_VALUE_TAG = "ovmlr.selection_value"


@dataclass(frozen=True)
class ModelRegistration:
    """What a node hands to :class:`MlflowRegisteredModelDataset` to save.

    Attributes:
        python_model: An ``mlflow.pyfunc.PythonModel`` instance.
        input_example: An example model input (MLflow infers the signature from it).
        selection_metric: Name of the validation metric that decides the champion.
        selection_value: Its value for this model (higher is better).
        description: Text of the model version (dataset, split, test metrics).
        force_champion: Make this version champion whatever the comparison says.
        tags: Extra model-version tags.
        pip_requirements: The model's pinned requirements (``None``: MLflow infers them).
        code_paths: Local code the model needs to load (copied into the logged model).
    """

    python_model: Any
    input_example: Any
    selection_metric: str
    selection_value: float
    description: str = ""
    force_champion: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    pip_requirements: list[str] | None = None
    code_paths: list[str] | None = None


def champion_decision(new_value: float, champion_value: float | None, force: bool) -> tuple[bool, str]:
    """Whether a new version becomes champion, and why (higher metric is better)."""
    if force:
        return True, "forced by parameter"
    if champion_value is None:
        return True, "no champion yet"
    if math.isnan(new_value):
        return False, "new selection metric is NaN"
    if new_value > champion_value:
        return True, f"{new_value:.4f} > champion's {champion_value:.4f}"
    return False, f"{new_value:.4f} <= champion's {champion_value:.4f}"


class MlflowRegisteredModelDataset(AbstractDataset[ModelRegistration, Any]):
    """Saves a :class:`ModelRegistration` as a registered model version; loads ``models:/name@alias``.

    Example catalog entry::

        c2srt_registered_model:
          type: ovmlr.datasets.MlflowRegisteredModelDataset
          model_name: ovmlr-c2srt

    Args:
        model_name: Registered model name.
        load_alias: Alias loaded by ``load`` (default ``champion``).
        candidate_alias: Alias every new version receives.
        champion_alias: Alias of the best version so far.
        artifact_name: Name of the logged model inside the run.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self,
        model_name: str,
        load_alias: str = "champion",
        candidate_alias: str = "candidate",
        champion_alias: str = "champion",
        artifact_name: str = "model",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._model_name = model_name
        self._load_alias = load_alias
        self._candidate_alias = candidate_alias
        self._champion_alias = champion_alias
        self._artifact_name = artifact_name
        self.metadata = metadata
        self.last_version: str | None = None

    def _load(self) -> Any:
        uri = f"models:/{self._model_name}@{self._load_alias}"
        try:
            return mlflow.pyfunc.load_model(uri)
        except MlflowException as exc:
            raise DatasetError(f"Cannot load '{uri}' from the MLflow registry: {exc}") from exc

    def _champion_value(self, client: MlflowClient) -> float | None:
        try:
            version = client.get_model_version_by_alias(self._model_name, self._champion_alias)
        except MlflowException:
            return None
        value = version.tags.get(VAL_VALUE_TAG)
        return float(value) if value is not None else None

    def _save(self, data: ModelRegistration) -> None:
        started = mlflow.active_run() is None
        if started:
            mlflow.start_run(run_name=f"register-{self._model_name}")
        try:
            self._register(data)
        finally:
            if started:
                mlflow.end_run()

    def _register(self, data: ModelRegistration) -> None:
        client = MlflowClient()
        champion_value = self._champion_value(client)
        info = mlflow.pyfunc.log_model(
            name=self._artifact_name,
            python_model=data.python_model,
            input_example=data.input_example,
            pip_requirements=data.pip_requirements,
            code_paths=data.code_paths,
            registered_model_name=self._model_name,
        )
        version = str(info.registered_model_version)
        self.last_version = version
        client.update_model_version(self._model_name, version, description=data.description)
        tags = {VAL_METRIC_TAG: data.selection_metric, VAL_VALUE_TAG: repr(float(data.selection_value))}
        for key, value in {**data.tags, **tags}.items():
            client.set_model_version_tag(self._model_name, version, key, str(value))
        client.set_registered_model_alias(self._model_name, self._candidate_alias, version)
        promote, reason = champion_decision(data.selection_value, champion_value, data.force_champion)
        if promote:
            client.set_registered_model_alias(self._model_name, self._champion_alias, version)
        verdict = "promoted to" if promote else "not promoted to"
        message = f"{self._model_name} v{version} {verdict} '{self._champion_alias}': {reason}"
        logger.info(message)
        client.set_model_version_tag(self._model_name, version, "ovmlr.champion_decision", message)
        mlflow.set_tag("ovmlr.champion_decision", message)

    def _describe(self) -> dict[str, Any]:
        return {
            "model_name": self._model_name,
            "load_alias": self._load_alias,
            "candidate_alias": self._candidate_alias,
            "champion_alias": self._champion_alias,
        }
