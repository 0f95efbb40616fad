"""The one train-and-select path: strict runs see no unseen column; the epoch and the zero-shot weight are
chosen on the protocol's validation data; the in-memory store holds at most one state per run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from head_data import NAMES, UNSEEN, D
from head_data import random_split as _split
from head_data import random_vocabulary as _vocabulary

from ovmlr.selection import train_and_select
from ovmlr.training import runs
from ovmlr.training.checkpoints import MemoryCheckpointStore
from ovmlr.training.recipe import TrainingRecipe
from ovmlr.training.runs import TrainingContext, plan_runs, train_runs

HEAD = {
    "config": "c2srt_small",
    "overrides": {"embed_dim": D, "ist.heads": 2, "ist.hidden_dim": 8, "isr.max_patches": 2},
}


CONTEXT = TrainingContext(
    {"embed_dim": D, "logit_scale": 10.0, "backbone_id": "toy"},
    {"model_name": "toy"},
    pd.DataFrame(),
    ("a photo of a {}.",),
)


def _recipe(
    protocol: str, weights: list[float] | None, model: dict | None = None, epochs: int = 2
) -> TrainingRecipe:
    metric = "seen/mAP" if protocol == "seen" else "gzsl/mAP"
    return TrainingRecipe.from_params(
        {
            "loop": {"epochs": epochs, "batch_size": 8, "lr": 1e-2, "ks": [1], "device": "cpu"},
            "model": model or HEAD,
            "selection": {"protocol": protocol, "metric": metric, "zero_shot_weights": weights},
        }
    )


def _train(recipe: TrainingRecipe):
    plan = plan_runs(recipe, _vocabulary(), _split(16, 6, 1), _split(12, 8, 2), CONTEXT)
    return plan, train_and_select(plan, CONTEXT, MemoryCheckpointStore())


@pytest.mark.parametrize("protocol", ["seen", "disjoint"])
def test_strict_runs_never_pass_an_unseen_column_to_fit(monkeypatch, protocol: str) -> None:
    """Every validation the strict runs do receives only seen columns (spied on ``fit``)."""
    received = []
    real_fit = runs.fit

    def spy(task, val_labels, vocab_seen, vocab_all, cfg, run_id, resume_from=None):
        received.append((vocab_all.names, val_labels.shape[1]))
        yield from real_fit(task, val_labels, vocab_seen, vocab_all, cfg, run_id, resume_from)

    monkeypatch.setattr(runs, "fit", spy)
    weights = [0.0, 0.5] if protocol == "disjoint" else None
    _, trained = _train(_recipe(protocol, weights))
    assert len(received) == (2 if protocol == "disjoint" else 1)
    for names, columns in received:
        assert not UNSEEN & set(names) and columns == len(names)
    assert trained.vocabulary.names == NAMES  # the final model scores every category
    info = trained.info
    assert info["selection_metric"] == ("val/seen/mAP" if protocol == "seen" else "disjoint/gzsl/mAP")
    assert 1 <= info["epoch"] <= 2 and np.isfinite(info["selection_value"]) and info["trainable"]
    if weights:
        assert info["zero_shot_weight"] in weights


def test_the_disjoint_final_run_stops_at_the_chosen_epoch_and_keeps_its_state() -> None:
    recipe = _recipe("disjoint", None, epochs=3)
    plan = plan_runs(recipe, _vocabulary(), _split(16, 6, 1), _split(12, 8, 2), CONTEXT)
    store = MemoryCheckpointStore()
    records = []
    for record in train_runs(plan, CONTEXT, store):
        store.save(record.checkpoint, record.keep_state)
        records.append((record.run.role, int(record.checkpoint["epoch"]), record.keep_state))
        assert store.states_held() <= 2
    chosen = runs.chosen_epoch(store.latest(plan.chooser.run_id), recipe.selection.metric)
    final = [(epoch, keep) for role, epoch, keep in records if role == "final"]
    assert [epoch for epoch, _ in final] == list(range(1, chosen + 1))
    assert final[-1] == (chosen, True) and not any(keep for _, keep in final[:-1])


def test_an_untrainable_head_is_evaluated_as_initialised_and_still_chooses_its_weight() -> None:
    model = {"config": "c2srt_small", "overrides": {"embed_dim": D, "use_isr": False, "use_ist": False}}
    _, trained = _train(_recipe("disjoint", [0.0, 1.0], model))
    assert not trained.info["trainable"] and trained.info["epoch"] == 0
    assert trained.info["zero_shot_weight"] in (0.0, 1.0)


def test_selection_needs_a_trained_run() -> None:
    from ovmlr.selection import select_trained

    plan = plan_runs(_recipe("seen", None), _vocabulary(), _split(16, 6, 1), _split(12, 8, 2), CONTEXT)
    with pytest.raises(ValueError, match="no checkpoint of the final run .*: train it first"):
        select_trained(plan, CONTEXT, MemoryCheckpointStore())
