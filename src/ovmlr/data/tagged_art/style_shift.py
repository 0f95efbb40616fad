"""Style shift: train on some renderings of the tagged art, test on another (issue #14's measurement).

An item's **style** is its ``source`` in the release (the rendering it comes from): ``openclipart`` (clip-art
of many authors), ``noto-emoji`` (Noto Color Emoji glyphs) or ``openmoji`` (OpenMoji's SVGs). The same
emoji drawn by Noto and by OpenMoji is one meaning in two styles (one ``group_id``), which is what makes the
shift measurable: under ``style_shift: {test_styles: [openmoji]}`` a model is trained on Noto's grinning face
and tested on OpenMoji's. The granularity is the source, not the author: Openclipart's authors are many and
most drew a handful of items, too few for a test set of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

WHERE = "data_processing.sources.tagged_art.style_shift"


@dataclass(frozen=True)
class StyleShift:
    """Which styles (item sources) are tested and which trained on (the ``style_shift`` parameters)."""

    test_styles: tuple[str, ...]  # the test pool is every item of these styles; no other pool has one
    train_styles: tuple[str, ...] | None = None  # the pretrain, train and val pools; None: every other style

    @classmethod
    def from_options(cls, options: Any) -> StyleShift:
        """The shift from its parameters (a mapping; a style list may be a single name).

        Raises:
            ValueError: Not a mapping, an unknown key, no test style, or a style both tested and trained;
                the message names the parameter.
        """
        if not isinstance(options, Mapping):
            raise ValueError(f"{WHERE}: expected a mapping like {{test_styles: [openmoji]}}, got {options!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"{WHERE}: unknown option(s) {unknown}; known: {sorted(known)}")
        test = _style_names(options.get("test_styles"), "test_styles")
        train = options.get("train_styles")
        train = None if train is None else _style_names(train, "train_styles")
        if not test:
            raise ValueError(f"{WHERE}.test_styles: name at least one style (e.g. [openmoji])")
        both = sorted(set(test) & set(train or ()))
        if both:
            raise ValueError(f"{WHERE}: {both} both in test_styles and in train_styles")
        return cls(test_styles=test, train_styles=train)


def _style_names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{WHERE}.{key}: expected a list of style names, got {value!r}")
    return tuple(value)


def style_sides(styles: np.ndarray, shift: StyleShift) -> tuple[np.ndarray, np.ndarray]:
    """``[N]`` bool masks of the items of a training style and of a test style (an item may be in neither).

    Args:
        styles: ``[N]`` the items' styles (``source``).
        shift: The styles to test and to train on.

    Raises:
        ValueError: A named style has no item (the message lists the styles present), or no style is left
            to train on.
    """
    present = sorted(set(styles.tolist()))
    named = shift.test_styles + (shift.train_styles or ())
    unknown = sorted(set(named) - set(present))
    if unknown:
        raise ValueError(f"{WHERE}: no item has the style(s) {unknown}; the styles present are {present}")
    test = np.isin(styles, shift.test_styles)
    train = ~test if shift.train_styles is None else np.isin(styles, shift.train_styles)
    if not train.any():
        raise ValueError(f"{WHERE}: every style present ({present}) is tested; none is left to train on")
    return train, test
