import logging

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ovmlr.data.category_summary import NO_TEST_POSITIVE, count_positives, plot_summary, summarise

MANIFEST = pd.DataFrame(
    {"image_id": ["i1", "i2", "i3", "i4"], "path": "p", "split": ["train", "train", "val", "test"]}
)
LABELS = pd.DataFrame({"image_id": ["i1", "i2", "i3", "i4"], "cat": [1, 1, 0, 1], "kite": [1, -1, 1, 0]})
SPLIT = pd.DataFrame({"category_id": [0, 1], "name": ["cat", "kite"], "role": ["seen", "unseen"]})


def test_positives_per_category_and_split():
    counts = count_positives(LABELS, MANIFEST, ["cat", "kite"])
    assert counts.to_dict("index") == {
        "cat": {"train": 2, "val": 0, "test": 1},
        "kite": {"train": 1, "val": 1, "test": 0},
    }


def test_unseen_category_without_test_positive_is_flagged_and_logged(caplog):
    with caplog.at_level(logging.WARNING):
        summary = summarise(SPLIT, count_positives(LABELS, MANIFEST, ["cat", "kite"]))
    assert summary["warning"].tolist() == ["", NO_TEST_POSITIVE]
    assert summary[["train_positives", "val_positives", "test_positives"]].values.tolist() == [
        [2, 0, 1],
        [1, 1, 0],
    ]
    assert "Category 'kite' (unseen): no positive test image" in caplog.text


def test_label_row_missing_from_the_manifest_is_an_error():
    labels = pd.concat(
        [LABELS, pd.DataFrame({"image_id": ["ghost"], "cat": [1], "kite": [0]})], ignore_index=True
    )
    with pytest.raises(ValueError, match="labels: image 'ghost' is not in image_manifest"):
        count_positives(labels, MANIFEST, ["cat", "kite"])


@pytest.mark.parametrize("max_bars", [1, 40])
def test_plot_is_a_figure_with_one_series_per_split(max_bars):
    summary = summarise(SPLIT, count_positives(LABELS, MANIFEST, ["cat", "kite"]))
    figure = plot_summary(summary, max_bars=max_bars)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert len(axes.containers if max_bars == 40 else axes.lines) == (3 if max_bars == 40 else 6)
