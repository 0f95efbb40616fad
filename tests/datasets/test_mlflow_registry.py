import math

import mlflow
import pytest
import torch
from kedro.io import DatasetError
from mlflow.tracking import MlflowClient

from ovmlr.datasets.mlflow_registry import (
    ChampionFacts,
    MlflowRegisteredModelDataset,
    ModelRegistration,
    champion_decision,
    registered_version,
)


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
    facts = None if champion is None else ChampionFacts("d", "gzsl/mAP", champion)
    decided, why = champion_decision(new, facts, force, "d", "gzsl/mAP")
    assert decided is promote and reason in why


def test_champion_decision_compares_like_with_like_only():
    other_data = ChampionFacts("fashion_mnist", "gzsl/mAP", 0.1)
    decided, why = champion_decision(0.9, other_data, False, "nus_wide", "gzsl/mAP")
    assert not decided and "trained on dataset 'fashion_mnist'" in why and "'nus_wide'" in why
    other_metric = ChampionFacts("nus_wide", "seen/mAP", 0.1)
    decided, why = champion_decision(0.9, other_metric, False, "nus_wide", "gzsl/mAP")
    assert not decided and "selected by 'seen/mAP'" in why
    assert champion_decision(0.9, other_data, True, "nus_wide", "gzsl/mAP")[0]


@pytest.mark.slow
def test_register_alias_and_load_by_alias(tmp_path, monkeypatch, make_trained):
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("test")
    ds = MlflowRegisteredModelDataset(model_name="toy")
    models = {seed: make_trained(seed=seed) for seed in (1, 2, 4)}

    def register(seed, value, force=False, dataset="test"):
        ds.save(
            ModelRegistration(
                trained=models[seed],
                dataset=dataset,
                selection_metric="gzsl/mAP",
                selection_value=value,
                description=f"seed {seed}",
                model_card=f"# card {seed}",
                force_champion=force,
            )
        )
        return ds.last_version

    v1 = register(1, 0.5)
    v2 = register(2, 0.4)  # worse on validation: candidate only
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("toy", "champion").version) == v1
    assert str(client.get_model_version_by_alias("toy", "candidate").version) == v2
    tags = client.get_model_version("toy", v2).tags
    assert "not promoted" in tags["ovmlr.champion_decision"] and tags["ovmlr.dataset"] == "test"
    assert client.get_model_version("toy", v2).description == "seed 2"
    assert "dataset 'test'" in client.get_registered_model("toy").description
    loaded = MlflowRegisteredModelDataset(model_name="toy").load()
    assert loaded.info["registered_model"] == {"name": "toy", "version": v1}  # the alias resolved
    for key, value in models[1].head_state.items():
        assert torch.equal(loaded.head_state[key], value), key
    v3 = register(4, 0.9, dataset="other")  # better, but another dataset: never compared
    assert str(client.get_model_version_by_alias("toy", "champion").version) == v1
    assert "trained on dataset 'test'" in client.get_model_version("toy", v3).tags["ovmlr.champion_decision"]
    v4 = register(4, 0.1, force=True)
    assert str(client.get_model_version_by_alias("toy", "champion").version) == v4
    by_uri = MlflowRegisteredModelDataset(model_name="toy", model_uri=f"models:/toy/{v2}").load()
    assert by_uri.info["model_uri"] == f"models:/toy/{v2}"
    assert by_uri.info["registered_model"] == {"name": "toy", "version": v2}
    assert MlflowRegisteredModelDataset(model_name="toy", optional=True).load() is None  # no URI: no parent
    run = client.get_model_version("toy", v4).run_id
    assert "card 4" in mlflow.artifacts.load_text(f"runs:/{run}/model_card.md")


def test_registered_versions_of_uris(tmp_path):
    assert registered_version("models:/toy/7") == {"name": "toy", "version": "7"}
    assert registered_version("runs:/abc/model") is None and registered_version(str(tmp_path)) is None
    with pytest.raises(DatasetError, match="'models:/toy@champion': the registry has no alias 'champion'"):
        registered_version("models:/toy@champion")


def test_a_version_logged_by_older_code_is_named_with_the_way_out(monkeypatch):
    def old_model(uri):
        raise ModuleNotFoundError("No module named 'ovmlr.training.pyfunc'")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", old_model)
    with pytest.raises(Exception, match=r"logged by an older ovmlr .*evaluated_model_alias=candidate"):
        MlflowRegisteredModelDataset(model_name="toy").load()
