"""MLflow's process-global state, isolated per test (the project-wide fixture) or per module fixture."""

import os
from contextlib import contextmanager

import mlflow
import pytest
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistrySqlStore
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingSqlStore
from mlflow.tracking import fluent
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry
from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry


@contextmanager
def mlflow_store(tracking_uri: str):
    """MLflow pointed at ``tracking_uri`` with no active run or experiment, and everything put back after.

    MLflow keeps the tracking URI, the active run and the active experiment in process-global state, and a
    kedro-mlflow run leaves ``MLFLOW_EXPERIMENT_ID`` in the environment; any of them would otherwise leak from
    one test into the next (an experiment id from another store is an error at ``start_run``).
    """
    forget_stores()
    with pytest.MonkeyPatch.context() as patch:
        while mlflow.active_run():
            mlflow.end_run()
        patch.setattr(fluent, "_active_experiment_id", None)
        # kedro-mlflow sets the registry URI (mlflow.set_registry_uri: a global and MLFLOW_REGISTRY_URI) to
        # its project's database; left behind, a later test's client reads another project's registry
        patch.setattr(registry_utils, "_registry_uri", None)
        for name in ("EXPERIMENT_ID", "EXPERIMENT_NAME", "RUN_ID", "REGISTRY_URI"):
            patch.delenv(f"MLFLOW_{name}", raising=False)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(tracking_uri)
        try:
            yield
        finally:
            while mlflow.active_run():
                mlflow.end_run()
            mlflow.set_tracking_uri(previous)
            fluent._active_experiment_id = None
            os.environ.pop("MLFLOW_REGISTRY_URI", None)  # set by the test itself: never seen by the next


def forget_stores() -> None:
    """Drop MLflow's stores and database engines cached by URI string: the project's
    ``sqlite:///mlflow.db`` is relative, so what was built in one test's project folder would otherwise serve
    the next test's folder."""
    for registry in (TrackingStoreRegistry, ModelRegistryStoreRegistry):
        registry._get_store_with_resolved_uri.cache_clear()
    for store in (TrackingSqlStore, RegistrySqlStore):
        with store._engine_map_lock:
            for engine in store._engine_map.values():
                engine.dispose()
            store._engine_map.clear()
