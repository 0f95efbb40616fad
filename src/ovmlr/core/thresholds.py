"""Decision thresholds of a trained model: which scores become tags.

A C²SRT score is a cosine-like number whose scale differs by label, so one global cut-off tags some labels on
every image and others on none. :class:`Thresholds` holds one threshold per seen label, chosen on the
validation split, and one ``new_name`` threshold for every other name, chosen on the class-disjoint
validation's pseudo-unseen categories (never on test). A label is a tag of an image when its score is at or
above its threshold. The fitting math is :mod:`ovmlr.evaluation.thresholds`; training fits them
(:mod:`ovmlr.selection.calibrate`), the model carries them (``TrainedC2SRT.thresholds``), and ``predict``
and the served model apply them (:meth:`Thresholds.for_names`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ovmlr.core.params import known_fields

RULES = ("f1", "precision")


@dataclass(frozen=True)
class ThresholdRule:
    """``training.thresholds``: how a threshold is chosen on validation scores.

    Attributes:
        rule: ``f1`` (the F1-optimal point) or ``precision`` (the lowest threshold whose precision reaches
            ``target_precision``: the most recall at that precision).
        target_precision: The precision asked for by ``rule: precision``, in (0, 1].
        bins: Score bins of the reliability table (observed positive rate per score bin).
    """

    rule: str = "f1"
    target_precision: float = 0.8
    bins: int = 10

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"training.thresholds.rule must be one of {RULES}, got {self.rule!r}")
        if isinstance(self.target_precision, bool) or not 0.0 < float(self.target_precision) <= 1.0:
            raise ValueError(
                f"training.thresholds.target_precision must be in (0, 1], got {self.target_precision!r}"
            )
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or self.bins < 1:
            raise ValueError(f"training.thresholds.bins must be a positive integer, got {self.bins!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ThresholdRule:
        """From ``params:training.thresholds`` (unknown keys named)."""
        return cls(**known_fields(params, cls.__dataclass_fields__, "training.thresholds"))

    @property
    def name(self) -> str:
        """``f1`` or ``precision>=0.8``."""
        return "f1" if self.rule == "f1" else f"precision>={self.target_precision:g}"


@dataclass(frozen=True)
class LabelThreshold:
    """One label's threshold and how it does on the data it was chosen on.

    Attributes:
        threshold: Tag when ``score >= threshold``; ``None`` when the data had no positive for the label.
        precision: Precision at the threshold on that data (``nan`` without a threshold).
        recall: Recall at the threshold on that data.
        f1: F1 at the threshold on that data.
        positives: Positive (image, label) pairs in that data.
        source: Where it was chosen: ``val`` (seen label), ``disjoint-val`` (the pseudo-unseen categories),
            ``parent <model>/<version>`` (kept from the model it was fine-tuned from).
        note: Why the rule could not be met as asked (``target precision not reached``), else empty.
    """

    threshold: float | None
    precision: float
    recall: float
    f1: float
    positives: int
    source: str = "val"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (``nan`` as ``None``)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelThreshold:
        """The inverse of :meth:`to_dict`."""
        values = known_fields(data, cls.__dataclass_fields__, "thresholds label")
        for key in ("precision", "recall", "f1"):
            values[key] = math.nan if values.get(key) is None else float(values[key])
        return cls(**values)


@dataclass(frozen=True)
class Thresholds:
    """The decision thresholds of a model: one per seen label, one for every other name.

    Attributes:
        rule: The rule they were chosen by (:attr:`ThresholdRule.name`).
        labels: Seen label name -> its threshold (chosen on the validation split's seen columns).
        new_name: The threshold of any other name (pooled over the class-disjoint validation's pseudo-unseen
            categories); ``None`` when training had no class-disjoint validation.
        reliability: Group (``seen``, ``new names``) -> score bins with ``lower``, ``upper``, ``count``,
            ``mean_score``, ``positive_rate`` (the data behind the reliability plot).
    """

    rule: str
    labels: Mapping[str, LabelThreshold]
    new_name: LabelThreshold | None = None
    reliability: Mapping[str, Sequence[Mapping[str, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as the model folder's ``trained_model.json`` stores it."""
        return {
            "rule": self.rule,
            "labels": {name: t.to_dict() for name, t in self.labels.items()},
            "new_name": None if self.new_name is None else self.new_name.to_dict(),
            "reliability": {k: [dict(b) for b in v] for k, v in self.reliability.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        """The inverse of :meth:`to_dict`."""
        values = known_fields(data, cls.__dataclass_fields__, "thresholds")
        new_name = values.get("new_name")
        return cls(
            rule=str(values["rule"]),
            labels={str(n): LabelThreshold.from_dict(t) for n, t in values["labels"].items()},
            new_name=None if new_name is None else LabelThreshold.from_dict(new_name),
            reliability=values.get("reliability") or {},
        )

    def for_names(self, names: Sequence[str]) -> np.ndarray:
        """The threshold of each name [L]: a seen label's own, else (a new name, or a seen label whose
        validation had no positive) the ``new_name`` threshold; ``nan`` (never a tag) when there is none.
        Names match case-insensitively, as label names do."""
        own = {n.casefold(): t.threshold for n, t in self.labels.items()}
        new = self.new_name
        fallback = math.nan if new is None or new.threshold is None else new.threshold
        values = [own.get(n.casefold()) for n in names]
        return np.array([fallback if v is None else v for v in values], dtype=np.float64)

    def merged(self, parent: Thresholds, names: Sequence[str], source: str) -> Thresholds:
        """These thresholds plus ``parent``'s for ``names`` (labels kept from a parent model), marked
        ``source``; a name these thresholds already have keeps its own."""
        own = {n.casefold() for n in self.labels}
        kept = {
            n: replace(t, source=source)
            for n, t in parent.labels.items()
            if n in set(names) and n.casefold() not in own
        }
        return replace(self, labels={**self.labels, **kept})


def check_threshold(value: Any, where: str) -> float | None:
    """A caller's threshold override: ``None`` (the calibrated thresholds) or one finite number.

    Raises:
        ValueError: Naming ``where`` and the value when it is not a finite number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not math.isfinite(value):
        raise ValueError(
            f"{where} must be a finite number (one decision threshold for every label; leave it out for the "
            f"model's calibrated thresholds), got {value!r}"
        )
    return float(value)


def tags_of(names: Sequence[str], scores: np.ndarray, thresholds: np.ndarray) -> list[list[str]]:
    """Per image, the names whose score is at or above their threshold, best score first.

    Shapes:
        scores: [N, L], thresholds: [L] (``nan``: never a tag) -> N lists
    """
    above = scores >= thresholds[None, :]  # nan compares False
    order = np.argsort(-scores, axis=1, kind="stable")
    return [[names[j] for j in row if above[i, j]] for i, row in enumerate(order)]
