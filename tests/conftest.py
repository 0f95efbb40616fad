"""Project-wide test fixtures."""

import mlflow
import pytest
from mlflow.tracking import fluent


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path, monkeypatch):
    """Every test gets its own sqlite tracking store and no active run or experiment from another test.

    MLflow keeps the tracking URI, the active run and the active experiment in process-global state; a test
    that sets them would otherwise leak into the next one.
    """
    while mlflow.active_run():
        mlflow.end_run()
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/isolated-mlflow.db")
    yield
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
    fluent._active_experiment_id = None
