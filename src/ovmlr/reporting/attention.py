"""How strongly each unseen category attends to each of its mined seen neighbours (the paper's Fig. 7).

IST's GATv2 layers return, per image, the coefficients α (Eq. 22) of every category over its K neighbours
(``IST.forward(..., return_attention=True)``: one [N, C, K, H] array per layer). :func:`attention_table`
averages them over heads and images into a long table; :func:`attention_heatmap` draws one layer of it,
a row per target category and a column per neighbour slot, each cell naming the neighbour and its α.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ovmlr.reporting.style import new_figure

ATTENTION_TABLE_COLUMNS = (
    "layer",
    "target",
    "target_role",
    "k",
    "neighbour",
    "neighbour_role",
    "alpha",
    "alpha_std",
    "n_images",
)


def _check_attention(attention: Sequence[np.ndarray], neighbours: np.ndarray, n_names: int) -> None:
    """Raise a ValueError naming the first array whose shape does not fit ``neighbours`` / ``names``."""
    if neighbours.ndim != 2 or neighbours.shape[0] != n_names:
        raise ValueError(
            f"neighbours must be [C={n_names}, K] (one row per name), got {list(neighbours.shape)}"
        )
    if neighbours.size and (neighbours.min() < 0 or neighbours.max() >= n_names):
        raise ValueError(f"neighbours holds indices outside 0..{n_names - 1}")
    if not attention:
        raise ValueError("attention has no layer")
    n_categories, k = neighbours.shape
    for layer, alpha in enumerate(attention, start=1):
        if alpha.ndim != 4 or alpha.shape[1:3] != (n_categories, k):
            raise ValueError(
                f"attention layer {layer} has shape {list(alpha.shape)}, expected [N, C={n_categories}, "
                f"K={k}, H] (C names, K neighbours per category)"
            )


def _target_indices(names: Sequence[str], roles: Sequence[str], targets: Sequence[str] | None) -> list[int]:
    """Indices of ``targets`` in ``names`` (default: every unseen category), in the given order."""
    if len(roles) != len(names):
        raise ValueError(f"roles has {len(roles)} entries but names has {len(names)}")
    if targets is None:
        targets = [name for name, role in zip(names, roles, strict=True) if role == "unseen"]
        if not targets:
            raise ValueError("no category has role 'unseen'; pass targets to choose the categories shown")
    targets = list(dict.fromkeys(targets))  # each once, first occurrence's order
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise ValueError(f"targets {unknown} are not among the {len(names)} category names")
    repeated = sorted({t for t in targets if list(names).count(t) > 1})
    if repeated:
        raise ValueError(f"targets {repeated} name more than one category")
    return [list(names).index(t) for t in targets]


def attention_table(
    attention: Sequence[np.ndarray],
    neighbours: np.ndarray,
    names: Sequence[str],
    roles: Sequence[str],
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    r"""Each target category's attention over its K neighbours, per layer, averaged over heads and images.

    For target i, slot k (neighbour j = ``neighbours[i, k]``) and layer l, with
    :math:`\bar\alpha_{n} = \frac{1}{H}\sum_m \alpha^{(m)}_{n,ij}` the head mean in image n:
    ``alpha`` = :math:`\frac{1}{N}\sum_n \bar\alpha_n` and ``alpha_std`` their standard deviation over the
    N images (ddof 0, so 0 for one image). ``alpha`` sums to 1 over a target's K slots.

    Args:
        attention: Per IST layer, the coefficients α of N images (``IST.forward(..., return_attention=True)``,
            as NumPy arrays).
        neighbours: ``neighbours[i]`` are the K categories category i attends to.
        names: Category names, in the order of the C axis.
        roles: ``"seen"`` / ``"unseen"`` per category.
        targets: Names of the categories to report, in row order; ``None`` = every unseen category.

    Returns:
        One row per layer (1-based), target and slot k (0-based, the order of ``neighbours``), columns
        :data:`ATTENTION_TABLE_COLUMNS`.

    Raises:
        ValueError: If a shape does not fit the others, or a target is not a (unique) category name.

    Shapes:
        attention: L × [N, C, K, H], neighbours: [C, K], names / roles: [C]
    """
    neighbours = np.asarray(neighbours)
    attention = [np.asarray(alpha, dtype=float) for alpha in attention]
    _check_attention(attention, neighbours, len(names))
    rows_of = _target_indices(names, roles, targets)
    k = neighbours.shape[1]
    frames = []
    for layer, alpha in enumerate(attention, start=1):
        per_image = alpha[:, rows_of].mean(axis=-1)  # [N, T, K], head mean
        sources = neighbours[rows_of]  # [T, K]
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "target": np.repeat([names[i] for i in rows_of], k),
                    "target_role": np.repeat([roles[i] for i in rows_of], k),
                    "k": np.tile(np.arange(k), len(rows_of)),
                    "neighbour": [names[j] for j in sources.ravel()],
                    "neighbour_role": [roles[j] for j in sources.ravel()],
                    "alpha": per_image.mean(axis=0).ravel(),
                    "alpha_std": per_image.std(axis=0).ravel(),
                    "n_images": alpha.shape[0],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(ATTENTION_TABLE_COLUMNS)]


def shorten(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters, the cut marked by an ellipsis."""
    return name if len(name) <= width else name[: width - 1] + "…"


def _layer_grid(table: pd.DataFrame, layer: int | None) -> tuple[int, pd.DataFrame]:
    """The chosen layer (default: the last) and its rows; a ValueError names what is missing."""
    missing = sorted(set(ATTENTION_TABLE_COLUMNS) - set(table.columns))
    if missing:
        raise ValueError(f"attention table lacks columns {missing}")
    layers = sorted(int(value) for value in table["layer"].unique())
    if not layers:
        raise ValueError("attention table has no row")
    layer = layers[-1] if layer is None else layer
    if layer not in layers:
        raise ValueError(f"attention table has no layer {layer}; layers: {layers}")
    return int(layer), table[table["layer"] == layer]


def attention_heatmap(table: pd.DataFrame, layer: int | None = None, name_width: int = 14) -> Figure:
    """One layer of :func:`attention_table` as a heatmap: a row per target, a column per neighbour slot.

    Each cell is coloured by α (0 to the layer's largest α) and names the neighbour with its α, so a row
    reads as "this (unseen) category borrows most from these seen categories" (the paper's Fig. 7).

    Args:
        table: The output of :func:`attention_table`.
        layer: IST layer to draw (1-based, as in the table); ``None`` = the last.
        name_width: Names longer than this are cut (in cells; row labels get twice as much).

    Returns:
        The figure, sized from the number of targets and K.

    Raises:
        ValueError: If the table lacks a column or the layer.
    """
    layer, rows = _layer_grid(table, layer)
    targets = list(dict.fromkeys(rows["target"]))
    alpha = rows.pivot(index="target", columns="k", values="alpha").loc[targets]  # [T, K]
    neighbour = rows.pivot(index="target", columns="k", values="neighbour").loc[targets]
    n_targets, k = alpha.shape
    figure = new_figure(3.0 + 1.15 * k, 1.6 + 0.55 * n_targets)
    ax = figure.subplots()
    top = float(np.nanmax(alpha.to_numpy())) or 1.0
    image = ax.imshow(alpha.to_numpy(), cmap="Blues", vmin=0.0, vmax=top, aspect="auto")
    for (row, col), value in np.ndenumerate(alpha.to_numpy()):
        colour = "white" if value > 0.6 * top else "black"
        label = f"{shorten(str(neighbour.iat[row, col]), name_width)}\n{value:.2f}"
        ax.text(col, row, label, ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(np.arange(k), [f"k={slot}" for slot in alpha.columns], fontsize=8)
    ax.set_yticks(np.arange(n_targets), [shorten(t, 2 * name_width) for t in targets], fontsize=8)
    ax.set_xlabel("mined neighbour slot k (the order of the neighbours table)")
    figure.colorbar(image, ax=ax, label="α (mean over heads and images)", shrink=0.9)
    n_layers, n_images = table["layer"].nunique(), int(rows["n_images"].iloc[0])
    roles = set(rows["target_role"])
    who = "unseen categories" if roles == {"unseen"} else "categories"
    ax.set_title(
        f"Attention of {who} over their neighbours, IST layer {layer} of {n_layers}, {n_images} images",
        fontsize=9,
    )
    return figure
