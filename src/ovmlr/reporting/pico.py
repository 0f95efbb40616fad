"""Which embedding dimensions PICO judged semantic and which style (issue #14: "a plot of p_d, sorted").

:func:`pico_weights_table` lists every dimension's semantic probability :math:`p_d`, its weight
:math:`w_d` and its rank; :func:`plot_pico_weights` draws :math:`p_d` sorted in decreasing order (the
weight floor as a line) beside the training alignment score of every PICO iteration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ovmlr.alignment.pico import PICOWeights
from ovmlr.reporting.style import MAIN_COLOUR, REFERENCE_COLOUR, SEEN_COLOUR, new_figure

PICO_TABLE_COLUMNS = ("dimension", "semantic_probability", "style_probability", "weight", "rank")


def pico_weights_table(weights: PICOWeights) -> pd.DataFrame:
    """One row per embedding dimension, most semantic first: ``dimension``, ``semantic_probability``
    (:math:`p_d`), ``style_probability`` (:math:`1 - p_d`), ``weight`` (:math:`w_d`), ``rank`` (0 = the
    most semantic)."""
    p = weights.semantic_probability.double().numpy()
    order = np.argsort(-p, kind="stable")
    return pd.DataFrame(
        {
            "dimension": order.astype(np.int64),
            "semantic_probability": p[order],
            "style_probability": 1.0 - p[order],
            "weight": weights.weights.double().numpy()[order],
            "rank": np.arange(len(order), dtype=np.int64),
        },
        columns=list(PICO_TABLE_COLUMNS),
    )


def plot_pico_weights(table: pd.DataFrame, weights: PICOWeights, title: str) -> Figure:
    """Left: :math:`p_d` sorted (and :math:`w_d`); right: the training alignment score (mAP) of the plain
    cosine, of the pair estimate and after each iteration (kept or rejected).

    Args:
        table: :func:`pico_weights_table` of ``weights``.
        weights: The fitted weights (history and scores for the right panel).
        title: Figure title (what the weights were fitted on).
    """
    figure = new_figure(11, 3.8)
    left, right = figure.subplots(1, 2, width_ratios=[2, 1])
    rank = table["rank"].to_numpy()
    left.plot(rank, table["semantic_probability"], color=MAIN_COLOUR, label="semantic probability $p_d$")
    left.plot(rank, table["weight"], color=REFERENCE_COLOUR, linestyle="--", label="weight $w_d$")
    floor = weights.config.weight_floor
    left.axhline(floor, color=SEEN_COLOUR, linewidth=0.8, linestyle=":", label=f"weight floor {floor:g}")
    styled = int((table["semantic_probability"] <= 1e-6).sum())
    left.set_xlabel(
        f"dimension, sorted by $p_d$ ({styled} of {len(table)} at $p_d$ = 0: judged style, "
        "weight at the floor)"
    )
    left.set_ylabel("probability / weight")
    left.set_ylim(0, 1.02)
    left.legend(loc="upper right", fontsize=8)
    left.set_title("per-dimension semantic probability")

    steps = ["cosine", "pairs"] + [f"it {h['iteration']}" for h in weights.history]
    values = [weights.scores.get("plain", np.nan), weights.scores.get("pairs", np.nan)]
    values += [h.get("candidate_score", np.nan) for h in weights.history]
    kept = [bool(h.get("kept")) for h in weights.history]
    # the pair estimate is the answer when no iteration was kept (P6)
    colours = [SEEN_COLOUR, REFERENCE_COLOUR if any(kept) else MAIN_COLOUR]
    colours += [MAIN_COLOUR if k else REFERENCE_COLOUR for k in kept]
    right.bar(range(len(steps)), 100 * np.asarray(values, dtype=float), color=colours)
    right.axhline(100 * weights.scores.get("final", np.nan), color=MAIN_COLOUR, linewidth=0.8)
    right.set_xticks(range(len(steps)), steps, rotation=45, fontsize=8)
    right.set_ylabel("training mAP (%)")
    low = 100 * np.nanmin(values) if np.isfinite(values).any() else 0.0
    right.set_ylim(max(0.0, low - 2), None)
    right.set_title("training mAP per candidate (red: in the weights)", fontsize=9)
    figure.suptitle(title)
    return figure
