"""One scoring path: the ablation runner's numbers equal the evaluation pipeline's for the same model."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ovmlr.core.features import assemble_full_split
from ovmlr.pipelines.ablation.nodes import AblationData, baseline_metrics
from ovmlr.pipelines.ablation.nodes import test_metrics as ablation_test_metrics
from ovmlr.pipelines.evaluation.nodes import (
    collect_scores,
    evaluate_methods,
    fit_zero_shot_alignment,
    score_baselines,
    score_champion,
)
from ovmlr.training.runs import TrainingContext

KS = [3]


def _evaluation_summary(world) -> dict:
    split = assemble_full_split(
        world.inputs["image_embeddings"],
        world.inputs["image_keys"],
        world.inputs["test_labels"],
        world.vocabulary,
    )
    champion = score_champion(world.champion, split, 5)
    pico = fit_zero_shot_alignment(
        world.inputs["image_embeddings"],
        world.inputs["image_keys"],
        world.inputs["train_labels"],
        world.vocabulary,
        world.inputs["text_features"],
        {"prompt": "__ensemble__"},
        {"iterations": 1},
    )
    baselines = {"prompt": "__ensemble__", "mkt_k": 4}
    frames, info = score_baselines(
        split, world.vocabulary, world.inputs["text_features"], pico, baselines, 5, "cpu"
    )
    return evaluate_methods(collect_scores(champion, frames), split, world.vocabulary, {}, info, KS, [1, 5])


def test_the_ablation_and_the_evaluation_score_a_model_alike(world) -> None:
    from ovmlr.evaluation.scoring import score_trained

    split = assemble_full_split(
        world.inputs["image_embeddings"],
        world.inputs["image_keys"],
        world.inputs["test_labels"],
        world.vocabulary,
    )
    summary = _evaluation_summary(world)["methods"]
    _, scores = score_trained(world.champion, split, pd.DataFrame(), ".", 5)
    ablation = {"c2srt": ablation_test_metrics(scores, split.labels, world.vocabulary, tuple(KS))}
    context = TrainingContext({}, {}, pd.DataFrame())
    data = AblationData(split, split, split, context)
    for name in ("zero_shot", "mkt_style"):
        ablation[name] = baseline_metrics(name, data, world.vocabulary, {"mkt_k": 4, "ks": KS})
    assert set(ablation) < set(summary)
    for method, metrics in ablation.items():
        for key, value in summary[method]["metrics"].items():
            expected = metrics[f"test/{key}"]
            wanted = None if math.isnan(expected) else pytest.approx(expected, abs=1e-6)
            assert value == wanted, (method, key)
