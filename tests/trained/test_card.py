"""The model card: per-label precision and recall at the threshold, the lineage of a fine-tuned model."""

from __future__ import annotations

from dataclasses import replace

from ovmlr.core.thresholds import LabelThreshold, Thresholds
from ovmlr.trained.card import model_card


def test_the_card_lists_each_threshold_with_its_precision_recall_and_split(trained) -> None:
    nan = float("nan")
    thresholds = Thresholds(
        "precision>=0.8",
        {"cat": LabelThreshold(-0.41, 0.8, 0.5, 0.615, 6), "dog": LabelThreshold(None, nan, nan, nan, 0)},
        LabelThreshold(
            -0.45, 0.6, 0.4, 0.48, 20, "disjoint-val", "target precision 0.8 not reached (best 0.600)"
        ),
        {"seen": [{"lower": -0.6, "upper": -0.3, "count": 12, "mean_score": -0.45, "positive_rate": 0.25}]},
    )
    lineage = {"parent_uri": "models:/toy@champion", "parent_name": "toy", "parent_version": "3"}
    model = replace(
        trained, thresholds=thresholds, info=trained.info | {"lineage": lineage | {"kept_labels": []}}
    )
    card = model_card(model, {"test/gzsl/mAP": 0.5}, "custom")
    assert "## Decision thresholds (rule `precision>=0.8`)" in card
    assert "| cat | -0.4100 | 0.800 | 0.500 | 6 | val |" in card
    assert "| dog | – | – | – | 0 | val |" in card
    assert (
        "| *(any new name)* | -0.4500 | 0.600 | 0.400 | 20 | disjoint-val — target precision 0.8 not" in card
    )
    assert "| seen | [-0.600, -0.300] | 12 | 0.250 |" in card and "threshold_reliability.png" in card
    assert "## Lineage" in card and "`toy` version 3" in card
    assert "trained before calibration" in model_card(trained, {}, "custom")
