"""Top-K predictions of several methods, marked correct / incorrect / unknown and unseen."""

from __future__ import annotations

import pandas as pd
import pytest

from ovmlr.reporting.predictions import plot_top_predictions
from ovmlr.reporting.style import CORRECT_COLOUR, UNKNOWN_COLOUR, UNSEEN_BACKGROUND, WRONG_COLOUR


def _top() -> pd.DataFrame:
    rows = []
    for image_id in ("img0", "img2"):
        for method in ("c2srt", "zero_shot"):
            for rank, (name, role, label) in enumerate(
                [("cat", "seen", 1), ("lion", "unseen", 0), ("dog", "seen", -1)]
            ):
                rows.append({"image_id": image_id, "method": method, "rank": rank, "name": name, "role": role,
                             "score": 0.9 - 0.1 * rank, "label": label})  # fmt: skip
    return pd.DataFrame(rows)


def test_lines_are_coloured_by_label_and_unseen_is_boxed(images, png_bytes) -> None:
    figure = plot_top_predictions(images, _top(), {"img0": ["cat"], "img2": []}, {"c2srt": "C²SRT"})
    axes = figure.axes
    assert len(axes) == 2 * 3  # 2 images × (image + 2 methods)
    texts = axes[1].texts
    assert [t.get_text() for t in texts] == ["1. ✓ cat  (0.90)", "2. ✗ lion  (0.80)", "3. ? dog  (0.70)"]
    assert [t.get_color() for t in texts] == [CORRECT_COLOUR, WRONG_COLOUR, UNKNOWN_COLOUR]
    assert texts[0].get_bbox_patch() is None and texts[1].get_bbox_patch().get_facecolor()[
        :3
    ] == pytest.approx(tuple(int(UNSEEN_BACKGROUND[i : i + 2], 16) / 255 for i in (1, 3, 5)))
    assert axes[1].get_title() == "C²SRT" and axes[2].get_title() == "zero_shot"
    assert axes[0].get_xlabel() == "positives: cat" and axes[3].get_xlabel() == "positives: none"
    assert png_bytes(figure) > 10_000


def test_bad_inputs_are_named(images) -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['label'\]"):
        plot_top_predictions(images, _top().drop(columns="label"), {}, {})
    with pytest.raises(ValueError, match=r"not read: \['img2'\]"):
        plot_top_predictions({"img0": images["img0"]}, _top(), {}, {})
