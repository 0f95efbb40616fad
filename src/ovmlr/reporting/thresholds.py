"""The reliability plot of a model's decision thresholds: how often a score of a given size is a true tag.

One curve per group of :attr:`Thresholds.reliability` (seen labels on the validation split; new names on the
class-disjoint validation's pseudo-unseen categories): the observed positive rate of each score bin against
the bin's mean score, the bin's share of pairs as the marker size, and the new-name threshold and the seen
labels' median threshold as vertical lines.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ovmlr.core.thresholds import Thresholds
from ovmlr.reporting.style import SEEN_COLOUR, UNSEEN_COLOUR, message_figure, new_figure

GROUP_COLOURS = {"seen": SEEN_COLOUR, "new names": UNSEEN_COLOUR}


def plot_reliability(thresholds: Thresholds | None) -> Figure:
    """Observed positive rate per score bin, one curve per group, with the thresholds marked."""
    title = "Reliability of the scores (validation data)"
    if thresholds is None or not thresholds.reliability:
        return message_figure(title, "This model has no calibrated thresholds (trained before calibration).")
    figure = new_figure(6.5, 4.2)
    ax = figure.subplots()
    for group, rows in thresholds.reliability.items():
        if not rows:
            continue
        x = [r["mean_score"] for r in rows]
        counts = np.array([r["count"] for r in rows], dtype=float)
        colour = GROUP_COLOURS.get(group, "#2ca02c")
        ax.plot(x, [r["positive_rate"] for r in rows], "-", color=colour, label=group)
        ax.scatter(x, [r["positive_rate"] for r in rows], s=20 + 200 * counts / counts.sum(), color=colour)
    seen = [t.threshold for t in thresholds.labels.values() if t.threshold is not None]
    if seen:
        ax.axvline(float(np.median(seen)), color=SEEN_COLOUR, linestyle=":", label="median seen threshold")
    new = thresholds.new_name
    if new is not None and new.threshold is not None:
        ax.axvline(new.threshold, color=UNSEEN_COLOUR, linestyle="--", label="new-name threshold")
    ax.set_xlabel("score (bin mean)")
    ax.set_ylabel("observed positive rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    figure.suptitle(f"{title}, rule {thresholds.rule}")
    return figure
