"""What the web page asks the model: tag a few uploaded images with a list of label names, and say why.

:class:`Tagger` holds one :class:`~ovmlr.trained.model.TrainedC2SRT` and the server's
:class:`~ovmlr.trained.limits.ServingLimits`. A request is checked (label names, then the row, size and label
limits) before anything is decoded; each image is decoded within the pixel limit (one that cannot be used is
answered with its reason, the others are still tagged); the scores and explanations come from
:func:`~ovmlr.trained.explain.explain`, whose scores are :meth:`TrainedC2SRT.score`'s: the numbers
``predict`` and the served model give for the same images and labels.
"""

from __future__ import annotations

import base64
import io
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from ovmlr.trained.explain import ImageExplanation, LabelExplanation, explain, model_view, policy_note
from ovmlr.trained.images import ImageRefused, image_from_bytes
from ovmlr.trained.labels import LabelSet, LabelSetCache, check_labels
from ovmlr.trained.limits import ServingLimits
from ovmlr.trained.model import TrainedC2SRT
from ovmlr.trained.pyfunc import DEFAULT_TOP_K, prediction_frame


class BadRequest(ValueError):
    """A request the page must show as a message (HTTP 400)."""


def calibrated_thresholds(trained: TrainedC2SRT, names: Sequence[str]) -> list[float | None]:
    """Each name's calibrated threshold (``None``: none), when the model carries ``thresholds``.

    ``thresholds.for_names(names)`` gives ``nan`` for a name without a threshold (never a tag).
    """
    thresholds = getattr(trained, "thresholds", None)
    if thresholds is None:
        return [None] * len(names)
    return [None if math.isnan(v) else float(v) for v in thresholds.for_names(list(names))]


def png_data_url(pixels: np.ndarray) -> str:
    """``data:image/png;base64,…`` of a uint8 [H, W, 3] array."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label_json(entry: LabelExplanation, threshold: float | None) -> dict[str, Any]:
    return {
        "label": entry.label,
        "score": entry.score,
        "threshold": threshold,
        "status": entry.status,
        "policy": entry.policy,
        "note": policy_note(entry),
        "patches": None if entry.patch_weights is None else [float(w) for w in entry.patch_weights],
        "neighbours": [{"name": n.name, "status": n.status, "weight": n.weight} for n in entry.neighbours],
    }


def image_json(
    name: str, view: np.ndarray, explained: ImageExplanation, thresholds: list, top_k: int
) -> dict[str, Any]:
    """One tagged image as the page reads it: its model view, labels (score, threshold, why), top labels."""
    names = tuple(e.label for e in explained.labels)
    scores = np.array([[e.score for e in explained.labels]], dtype=np.float32)
    return {
        "name": name,
        "error": None,
        "view": png_data_url(view),
        "grid": list(explained.grid),
        "labels": [_label_json(e, t) for e, t in zip(explained.labels, thresholds, strict=True)],
        "top_labels": prediction_frame(names, scores, top_k)["top_labels"][0],
    }


class Tagger:
    """Tags uploaded images with label names and explains every score (one request at a time).

    Args:
        trained: The model.
        limits: The server's limits (images, labels, label length, pixels, request bytes, label cache).
    """

    def __init__(self, trained: TrainedC2SRT, limits: ServingLimits) -> None:
        self.trained, self.limits = trained, limits
        self._label_sets = LabelSetCache(limits.label_cache_entries, limits.label_cache_bytes)
        self._lock = threading.Lock()  # one request at a time: the model's tokenizer is not thread-safe

    def describe(self) -> dict[str, Any]:
        """The model and limits the page shows: vocabulary, calibrated thresholds, limits."""
        trained = self.trained
        return {
            "model": repr(trained),
            "model_uri": trained.info.get("model_uri"),
            "vocabulary": list(trained.vocabulary.names),
            "calibrated": getattr(trained, "thresholds", None) is not None,
            "limits": {
                "max_rows": self.limits.max_rows,
                "max_labels": self.limits.max_labels,
                "max_label_chars": self.limits.max_label_chars,
                "max_image_pixels": self.limits.max_image_pixels,
                "max_request_bytes": self.limits.max_request_bytes,
            },
        }

    def label_set(self, labels: Any) -> LabelSet:
        """The prepared label set of a request's names (cached: a list sent again costs nothing).

        Raises:
            BadRequest: Not a list, an empty list, an empty or duplicated name, over a label limit.
        """
        if not isinstance(labels, list):
            raise BadRequest(f"labels must be a list of names, got {type(labels).__name__}")
        try:
            self.limits.check_labels(labels)
            names = check_labels(labels)
            return self._label_sets.get(names, lambda: self.trained.labels(list(names)))
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc

    def tag(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Tag ``body['images']`` (``[{name, data}]``, data base64) with ``body['labels']``.

        Returns:
            ``{"labels": [...], "top_k": k, "images": [...]}``: per image :func:`image_json`, or its
            ``name`` and ``error`` when it could not be used.

        Raises:
            BadRequest: No image, a malformed entry, bad labels, or a request over a limit.
        """
        images, labels = body.get("images"), body.get("labels")
        top_k = body.get("top_k", DEFAULT_TOP_K)
        if not isinstance(images, list) or not images:
            raise BadRequest("no image: pick or drop one or more images")
        if any(not isinstance(i, Mapping) or not isinstance(i.get("data"), str) for i in images):
            raise BadRequest("each image must be {name, data} with its bytes base64-encoded in data")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise BadRequest(f"top_k must be a positive integer, got {top_k!r}")
        size = sum(len(i["data"]) for i in images) + sum(len(n) for n in labels if isinstance(n, str))
        try:
            self.limits.check_request(len(images), size, None)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        with self._lock:
            label_set = self.label_set(labels)
            out = [self._tag_one(i, entry, label_set, top_k) for i, entry in enumerate(images)]
        return {"labels": list(label_set.names), "top_k": top_k, "images": out}

    def _tag_one(self, index: int, entry: Mapping[str, Any], labels: LabelSet, top_k: int) -> dict[str, Any]:
        name = str(entry.get("name") or f"image {index + 1}")
        try:
            image = image_from_bytes(entry["data"], f"image {name!r}", self.limits.max_image_pixels)
        except ImageRefused as exc:
            return {"name": name, "error": str(exc)}
        batch = self.trained.preprocess(image).unsqueeze(0)
        g, p = self.trained.encode_images(batch)
        frozen = self.trained.encode_frozen_global(batch) if self.trained.needs_frozen_global else None
        explained = explain(self.trained, g, p, labels, frozen_global=frozen)[0]
        view = model_view(self.trained, image)
        return image_json(name, view, explained, calibrated_thresholds(self.trained, labels.names), top_k)
