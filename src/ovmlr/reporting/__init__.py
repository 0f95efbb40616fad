"""Report figures of the ``evaluation`` pipeline: pure functions returning matplotlib ``Figure`` objects.

Modules: ``pr_curves`` (seen / unseen precision-recall), ``category_ap`` (per-category AP bars, Fig. 6b),
``isr_selection`` (ISR's selected patches, Figs. 2b / 6), ``relation_graphs`` (mined neighbours, Fig. 10),
``predictions`` (top-K predictions marked correct / incorrect, Figs. 8 / 11), ``images`` (reading the test
images the manifest names), ``style`` (colours). The catalog saves them (``matplotlib.MatplotlibDataset``).
"""

from ovmlr.reporting.category_ap import plot_category_ap
from ovmlr.reporting.isr_selection import plot_isr_selection
from ovmlr.reporting.pr_curves import plot_precision_recall, pooled_precision_recall
from ovmlr.reporting.predictions import plot_top_predictions
from ovmlr.reporting.relation_graphs import plot_relation_graphs, tile_figures

__all__ = [
    "plot_category_ap",
    "plot_isr_selection",
    "plot_precision_recall",
    "plot_relation_graphs",
    "plot_top_predictions",
    "pooled_precision_recall",
    "tile_figures",
]
