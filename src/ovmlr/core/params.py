"""Parameters parsed at the edge: the one unknown-keys check, and run fingerprints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def known_fields(params: Mapping[str, Any] | None, fields: Iterable[str], where: str) -> dict[str, Any]:
    """``params`` as a dict if every key is one of ``fields``.

    Args:
        params: The parameter section (``None``: empty).
        fields: The keys it may have (a dataclass's field names).
        where: The section's name in the configuration, for the message (``training.loop``).

    Raises:
        ValueError: Naming the unknown keys, the section and the keys it knows.
    """
    values = dict(params or {})
    known = set(fields)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {where} parameter(s) {unknown}; known: {sorted(known)}")
    return values


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts and arrays (a run's identity for resuming)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]
