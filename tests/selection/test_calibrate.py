"""Decision thresholds are chosen on validation data only: seen labels on the val split's seen columns, new
names on the class-disjoint validation's pseudo-unseen categories; no true unseen category, no test image."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from head_data import NAMES, UNSEEN, D
from head_data import random_split as _split
from head_data import random_vocabulary as _vocabulary

from ovmlr.core.thresholds import ThresholdRule
from ovmlr.evaluation.thresholds import fit_threshold
from ovmlr.selection import calibrate, train_and_select
from ovmlr.training.checkpoints import MemoryCheckpointStore
from ovmlr.training.recipe import TrainingRecipe
from ovmlr.training.runs import TrainingContext, plan_runs

CONTEXT = TrainingContext(
    {"embed_dim": D, "logit_scale": 10.0, "backbone_id": "toy"},
    {"model_name": "toy"},
    pd.DataFrame(),
    ("a photo of a {}.",),
)


def _recipe(protocol: str, weights: list[float] | None) -> TrainingRecipe:
    head = {"config": "c2srt_small", "overrides": {"embed_dim": D, "ist.heads": 2, "ist.hidden_dim": 8}}
    selection = {"protocol": protocol, "metric": "seen/mAP" if protocol == "seen" else "gzsl/mAP"}
    return TrainingRecipe.from_params(
        {
            "loop": {"epochs": 2, "batch_size": 8, "lr": 1e-2, "ks": [1], "device": "cpu"},
            "model": head,
            "selection": selection | {"zero_shot_weights": weights},
        }
    )


VAL = _split(12, 8, 2)


def _calibrated(monkeypatch, protocol: str, rule: ThresholdRule):
    """The calibrated model and every (image ids, vocabulary names, scores, labels) calibration scored."""
    weights = [0.0, 0.5] if protocol == "disjoint" else None
    plan = plan_runs(_recipe(protocol, weights), _vocabulary(), _split(16, 6, 1), VAL, CONTEXT)
    store = MemoryCheckpointStore()
    trained = train_and_select(plan, CONTEXT, store)
    scored, real = [], calibrate.score_trained

    def spy(model, split, manifest, root, batch):
        encoded, scores = real(model, split, manifest, root, batch)
        scored.append((split.image_ids.tolist(), model.vocabulary, scores, encoded.labels))
        return encoded, scores

    monkeypatch.setattr(calibrate, "score_trained", spy)
    return trained, calibrate.calibrate_thresholds(trained, plan, CONTEXT, store, rule), scored


@pytest.mark.parametrize("rule", [ThresholdRule("f1"), ThresholdRule("precision", 0.6)])
def test_new_name_thresholds_come_from_pseudo_unseen_categories_of_val_never_test(monkeypatch, rule) -> None:
    trained, calibrated, scored = _calibrated(monkeypatch, "disjoint", rule)
    assert trained.thresholds is None and calibrated.head_state is trained.head_state  # input unchanged
    assert len(scored) == 2  # the final model on val's seen columns, the selection run on its pseudo-unseen
    for image_ids, vocabulary, _, _ in scored:
        assert image_ids == VAL.image_ids.tolist() and not UNSEEN & set(vocabulary.names)
    thresholds = calibrated.thresholds
    assert set(thresholds.labels) == set(NAMES) - UNSEEN and thresholds.rule == rule.name
    assert all(t.source == "val" for t in thresholds.labels.values())
    _, pseudo_vocabulary, scores, labels = scored[1]
    pseudo = pseudo_vocabulary.unseen_mask
    assert 0 < pseudo.sum() < len(pseudo)  # a held-out share of the seen categories
    assert thresholds.new_name == fit_threshold(scores[:, pseudo], labels[:, pseudo], rule, "disjoint-val")
    assert set(thresholds.reliability) == {"seen", "new names"}
    assert thresholds.for_names(["zebra"])[0] == thresholds.new_name.threshold


def test_without_a_class_disjoint_validation_new_names_get_no_threshold(monkeypatch) -> None:
    _, calibrated, scored = _calibrated(monkeypatch, "seen", ThresholdRule())
    assert len(scored) == 1 and calibrated.thresholds.new_name is None
    assert np.isnan(calibrated.thresholds.for_names(["zebra"])[0])
