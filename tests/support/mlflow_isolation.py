"""MLflow's process-global state, isolated per test (the project-wide fixture) or per module fixture."""

from contextlib import contextmanager

import mlflow
import pytest
from mlflow.tracking import fluent


@contextmanager
def mlflow_store(tracking_uri: str):
    """MLflow pointed at ``tracking_uri`` with no active run or experiment, and everything put back after.

    MLflow keeps the tracking URI, the active run and the active experiment in process-global state, and a
    kedro-mlflow run leaves ``MLFLOW_EXPERIMENT_ID`` in the environment; any of them would otherwise leak from
    one test into the next (an experiment id from another store is an error at ``start_run``).
    """
    with pytest.MonkeyPatch.context() as patch:
        while mlflow.active_run():
            mlflow.end_run()
        patch.setattr(fluent, "_active_experiment_id", None)
        for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
            patch.delenv(name, raising=False)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(tracking_uri)
        try:
            yield
        finally:
            while mlflow.active_run():
                mlflow.end_run()
            mlflow.set_tracking_uri(previous)
            fluent._active_experiment_id = None
