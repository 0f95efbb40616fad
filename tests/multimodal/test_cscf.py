"""CSCF end to end on the tiny world: alignment beyond C_m, the fit, save/load and the MLflow model."""

from __future__ import annotations

import dataclasses

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from ovmlr.datasets import TrainedModelDataset
from ovmlr.datasets.mlflow_registry import MlflowRegisteredModelDataset, ModelRegistration
from ovmlr.metrics import mean_average_precision
from ovmlr.multimodal.fit import fit_cscf
from ovmlr.multimodal.pyfunc import TrainedCSCFPyfunc
from ovmlr.multimodal.trained import load_cscf, save_cscf
from ovmlr.multimodal.training import MultimodalTrainingConfig, train_aligners


def _fit(world, params, balancing="none", alignment="cosine"):
    return fit_cscf(
        world.train,
        world.train_labels,
        world.val,
        world.val_labels,
        world.text,
        world.category_ids,
        world.sets,
        params["training"] | {"balancing": balancing},
        params["fusion"],
        alignment,
        params["pico"],
        {"dataset": "toy"},
    )


def test_alignment_scores_categories_outside_the_modality_set(world, fit_params) -> None:
    """Modality a never trains on c4-c7, yet its aligned cosines still rank them, as well as before training
    (the residual aligner starts at the identity; training on C_a must not destroy the shared space).

    A non-residual aligner (modality b, its own 12-d space) learns the map into the text space only along
    its own categories' directions, so its zero-shot transfer is weak by construction (documented).
    """
    from ovmlr.multimodal.training import modality_scores

    config = MultimodalTrainingConfig.from_params(fit_params["training"] | {"epochs": 10})
    outcome = train_aligners(
        world.train, world.train_labels, world.val, world.val_labels, world.text, world.sets, config
    )
    outside = ~world.sets.member["a"]
    trained = modality_scores(outcome.aligner, world.test, world.text)["a"]
    assert trained.shape == world.test_labels.shape
    untrained = world.test.features["a"] / np.linalg.norm(world.test.features["a"], axis=1, keepdims=True)
    before = mean_average_precision(untrained @ world.text.T[:, outside], world.test_labels[:, outside])
    after = mean_average_precision(trained[:, outside], world.test_labels[:, outside])
    assert after > 0.6 and after >= before - 0.05
    assert outcome.best_epoch >= 1


@pytest.mark.parametrize("balancing", ["none", "ogm_ge", "cal"])
def test_fit_is_deterministic_and_beats_chance(world, fit_params, balancing) -> None:
    first, second = _fit(world, fit_params, balancing), _fit(world, fit_params, balancing)
    scores = first.score_all(world.test, world.test_labels)
    assert np.allclose(scores["cscf"], second.score(world.test, "cscf"))
    assert set(scores) == {"a", "b", "late_mean", "late_max", "decision", "cscf", "oracle"}
    assert mean_average_precision(scores["cscf"], world.test_labels) > 0.5
    assert set(first.fusion.temperatures) == {"a", "b"}
    assert first.info["best_epoch"] >= 1 and len(first.info["gamma_trials"]) == 4


def test_save_load_round_trip_with_pico(world, fit_params, tmp_path) -> None:
    model = _fit(world, fit_params, "cal", alignment="pico")
    assert set(model.pico) == {"a", "b"}
    loaded = load_cscf(save_cscf(model, tmp_path / "m"))
    assert loaded.fusion == model.fusion
    assert np.allclose(loaded.score(world.test, "cscf"), model.score(world.test, "cscf"), atol=1e-6)
    assert torch.equal(loaded.pico["a"].weights, model.pico["a"].weights)
    vocabulary = tmp_path / "m" / "vocabulary.parquet"
    vocabulary.write_bytes(vocabulary.read_bytes()[:-100])  # truncated: named before it is read
    with pytest.raises(ValueError, match="vocabulary.parquet' is damaged: .*checksum.*kedro run"):
        load_cscf(tmp_path / "m")
    (tmp_path / "m" / "aligners.safetensors").unlink()
    with pytest.raises(ValueError, match="aligners.safetensors is missing"):
        load_cscf(tmp_path / "m")


def test_folder_dataset_refuses_the_wrong_model(world, fit_params, tmp_path) -> None:
    dataset = TrainedModelDataset(str(tmp_path / "cscf"), flavour="cscf")
    model = _fit(world, fit_params)
    dataset.save(model)
    assert dataset.exists()
    assert np.allclose(dataset.load().score(world.test, "late_mean"), model.score(world.test, "late_mean"))
    with pytest.raises(Exception, match="expected a TrainedCSCF"):
        dataset.save("not a model")


def test_pyfunc_takes_feature_columns_and_a_missing_cell(world, fit_params) -> None:
    model = _fit(world, fit_params)
    rows = pd.DataFrame(
        {"a": list(world.test.features["a"][:3]), "b": [world.test.features["b"][0], None, []]}
    )
    out = TrainedCSCFPyfunc(model).predict(None, rows, {"method": "cscf", "top_k": 2})
    assert list(out.columns[:8]) == list(model.names)
    assert out["top_labels"].map(len).tolist() == [2, 2, 2]
    with pytest.raises(mlflow.exceptions.MlflowException, match="row 0 column 'b' has 2 values"):
        TrainedCSCFPyfunc(model).predict(
            None, pd.DataFrame({"a": [world.test.features["a"][0]], "b": [[1.0, 2.0]]})
        )
    with pytest.raises(mlflow.exceptions.MlflowException, match="no modality column"):
        TrainedCSCFPyfunc(model).predict(None, pd.DataFrame({"x": [1]}))


def test_registry_round_trip(world, fit_params) -> None:
    model = _fit(world, fit_params)
    dataset = MlflowRegisteredModelDataset("toy-cscf", flavour="cscf")
    dataset.save(
        ModelRegistration(trained=model, dataset="toy", selection_metric="val_seen_mAP", selection_value=0.5)
    )
    loaded = dataset.load()
    assert np.allclose(loaded.score(world.test, "cscf"), model.score(world.test, "cscf"), atol=1e-6)
    scored = mlflow.pyfunc.load_model("models:/toy-cscf@champion").predict(
        pd.DataFrame({"a": list(world.test.features["a"][:2]), "b": list(world.test.features["b"][:2])})
    )
    assert scored.shape[0] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alignment": "dot"}, "alignment must be one of"),
        ({"fusion": {"gamma_grid": {"own": [0.0]}}}, "gamma_grid must have keys 'own' and 'other'"),
        ({"fusion": {"temperature_grid": None}}, "temperature_grid must have keys min, max, steps"),
        ({"training": {"balancing": "grad_blend"}}, "balancing must be one of"),
    ],
)
def test_fit_names_a_bad_setting(world, fit_params, change, message) -> None:
    params = fit_params | {
        "fusion": fit_params["fusion"] | change.get("fusion", {}),
        "training": fit_params["training"] | change.get("training", {}),
    }
    balancing = params["training"].get("balancing", "none")
    with pytest.raises(ValueError, match=message):
        _fit(world, params, balancing, alignment=change.get("alignment", "cosine"))


def test_zero_shot_ensemble_of_a_residual_modality(world, fit_params) -> None:
    """s_m = (1 - w) aligned + w zero-shot cosine, for the residual modality a only; w from the grid."""
    params = fit_params | {"fusion": fit_params["fusion"] | {"zero_shot_weight_grid": [0.0, 1.0]}}
    model = _fit(world, params)
    assert model.fusion.zero_shot_weight in (0.0, 1.0)
    zero_shot = model.with_fusion(dataclasses.replace(model.fusion, zero_shot_weight=1.0))
    aligned = model.with_fusion(dataclasses.replace(model.fusion, zero_shot_weight=0.0))
    x = world.test.features["a"] / np.linalg.norm(world.test.features["a"], axis=1, keepdims=True)
    np.testing.assert_allclose(zero_shot.modality_scores(world.test)["a"], x @ world.text.T, atol=1e-5)
    half = model.with_fusion(dataclasses.replace(model.fusion, zero_shot_weight=0.5)).modality_scores(
        world.test
    )
    expected = 0.5 * aligned.modality_scores(world.test)["a"] + 0.5 * x @ world.text.T
    np.testing.assert_allclose(half["a"], expected, atol=1e-5)
    # b lives in its own space: no zero-shot term
    np.testing.assert_allclose(half["b"], aligned.modality_scores(world.test)["b"])
    with pytest.raises(ValueError, match="zero_shot_weight_grid must list weights in"):
        _fit(world, fit_params | {"fusion": fit_params["fusion"] | {"zero_shot_weight_grid": [1.5]}})
