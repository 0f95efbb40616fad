"""Log a list of experiment variants as MLflow runs nested under the active (parent) run."""

from __future__ import annotations

import math
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError


class MlflowNestedRunsDataset(AbstractDataset[list[dict[str, Any]], list[dict[str, Any]]]):
    """Each saved item becomes one child run: ``{"run_name", "params", "metrics", "tags"}``.

    Under ``kedro run`` the parent is kedro-mlflow's run; elsewhere a parent run named ``parent_run_name``
    is opened for the duration of the save. ``load`` returns what the last save logged, with run ids.

    Args:
        parent_run_name: Name of the parent run when no run is active.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, parent_run_name: str = "ablation", metadata: dict[str, Any] | None = None) -> None:
        self._parent_run_name = parent_run_name
        self.metadata = metadata
        self._logged: list[dict[str, Any]] = []

    def _load(self) -> list[dict[str, Any]]:
        if not self._logged:
            raise DatasetError("No nested runs were logged by this dataset yet")
        return list(self._logged)

    def _save(self, data: list[dict[str, Any]]) -> None:
        started = mlflow.active_run() is None
        if started:
            mlflow.start_run(run_name=self._parent_run_name)
        try:
            self._logged = [self._log_child(item) for item in data]
        finally:
            if started:
                mlflow.end_run()

    @staticmethod
    def _log_child(item: dict[str, Any]) -> dict[str, Any]:
        metrics = {k: float(v) for k, v in item.get("metrics", {}).items() if not math.isnan(float(v))}
        with mlflow.start_run(run_name=item["run_name"], nested=True) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in item.get("params", {}).items()})
            mlflow.log_metrics(metrics)
            mlflow.set_tags({k: str(v) for k, v in item.get("tags", {}).items()})
        return {**item, "run_id": run.info.run_id}

    def _describe(self) -> dict[str, Any]:
        return {"parent_run_name": self._parent_run_name}
