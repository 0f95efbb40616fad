"""Colours and figure construction shared by every report (no pyplot state: figures are plain ``Figure``s)."""

from __future__ import annotations

from matplotlib.figure import Figure

SEEN_COLOUR = "#7f7f7f"  # seen categories
UNSEEN_COLOUR = "#1f77b4"  # unseen categories (blue, as in the paper's Fig. 6b)
MAIN_COLOUR = "#d62728"  # the evaluated model (C²SRT)
REFERENCE_COLOUR = "#9e9e9e"  # the reference baseline in side-by-side bars
METHOD_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b")  # curves, by method order
CORRECT_COLOUR = "#2ca02c"  # prediction that is a known positive (green)
WRONG_COLOUR = "#d62728"  # prediction that is a known negative (red)
UNKNOWN_COLOUR = "#7f7f7f"  # prediction whose label is unknown (-1)
UNSEEN_BACKGROUND = "#fff2a8"  # background of an unseen category's name (yellow, as in the paper's Fig. 8)
SELECTION_COLOUR = "#ff7f0e"  # ISR-selected patch cells


def new_figure(width: float, height: float, dpi: int = 110) -> Figure:
    """A figure detached from pyplot (nothing to close; safe in parallel runners)."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def method_colour(index: int) -> str:
    """Colour of the ``index``-th method of a comparison (cycles)."""
    return METHOD_COLOURS[index % len(METHOD_COLOURS)]


def label_colour(label: int) -> str:
    """Green for a known positive, red for a known negative, grey for an unknown label."""
    return {1: CORRECT_COLOUR, 0: WRONG_COLOUR}.get(int(label), UNKNOWN_COLOUR)


def message_figure(title: str, message: str) -> Figure:
    """A figure that says why a report has nothing to draw (kept so the output exists and says so)."""
    figure = new_figure(7, 2.5)
    ax = figure.subplots()
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11)
    ax.set_axis_off()
    figure.suptitle(title)
    return figure
