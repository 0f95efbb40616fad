import math

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset, ModelRegistration, champion_decision


class _Doubler(mlflow.pyfunc.PythonModel):
    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return model_input * self.factor


@pytest.mark.parametrize(
    ("new", "champion", "force", "promote", "reason"),
    [
        (0.5, None, False, True, "no champion yet"),
        (0.6, 0.5, False, True, "0.6000 > champion's 0.5000"),
        (0.4, 0.5, False, False, "0.4000 <= champion's 0.5000"),
        (0.5, 0.5, False, False, "<="),
        (0.1, 0.5, True, True, "forced"),
        (math.nan, 0.5, False, False, "NaN"),
    ],
)
def test_champion_decision(new, champion, force, promote, reason):
    decided, why = champion_decision(new, champion, force)
    assert decided is promote and reason in why


@pytest.mark.slow
def test_register_alias_and_load_by_alias(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("test")
    ds = MlflowRegisteredModelDataset(model_name="toy")
    frame = pd.DataFrame({"x": [1.0, 2.0]})

    def register(factor, value, force=False):
        ds.save(
            ModelRegistration(
                python_model=_Doubler(factor),
                input_example=frame,
                selection_metric="gzsl/mAP",
                selection_value=value,
                description=f"factor {factor}",
                force_champion=force,
            )
        )
        return ds.last_version

    v1 = register(2.0, 0.5)
    v2 = register(3.0, 0.4)  # worse on validation: candidate only
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("toy", "champion").version) == v1
    assert str(client.get_model_version_by_alias("toy", "candidate").version) == v2
    assert "not promoted" in client.get_model_version("toy", v2).tags["ovmlr.champion_decision"]
    assert client.get_model_version("toy", v2).description == "factor 3.0"
    pd.testing.assert_frame_equal(ds.load().predict(frame), frame * 2.0)
    v3 = register(4.0, 0.1, force=True)
    assert str(client.get_model_version_by_alias("toy", "champion").version) == v3
    loaded = mlflow.pyfunc.load_model("models:/toy@champion")
    pd.testing.assert_frame_equal(loaded.predict(frame), frame * 4.0)
