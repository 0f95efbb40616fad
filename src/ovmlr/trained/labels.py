"""Label names a user asks for: normalisation, validation, and neighbours for names the model never saw.

A trained C²SRT model scores a category from its text feature (the prompt ensemble, Eq. 24) and, with IST,
from its K related *seen* categories. A name of the training vocabulary reuses its training entry; any other
name gets its text feature from the backbone's text tower and its K seen neighbours from a policy:

- ``similarity``: the K seen categories whose text features are most similar (cosine), instant;
- ``llm``: the relation-mining prompt of the project asked about the new name (see
  :mod:`ovmlr.trained.llm_policy`), its answers cached, topped up by similarity when it names fewer than K.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ovmlr.core.vocabulary import Vocabulary

POLICIES = ("similarity", "llm")
TRAINING = "training"  # the provenance of a name found in the training vocabulary


def read_label_names(labels: str | list[str]) -> list[str]:
    """Label names as ``predict.labels`` and ``export.labels`` give them: a list, a text file (one per
    line, ``#`` comments), or a string separated by ``|`` (``cat|fire truck|kite``: Kedro's ``--params``
    splits on commas) or by commas.

    Raises:
        ValueError: When a file named by ``labels`` has no label (checks of the names: the model's).
    """
    if isinstance(labels, str) and Path(labels).is_file():
        lines = Path(labels).read_text(encoding="utf-8").splitlines()
        names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not names:
            raise ValueError(f"the label file '{labels}' lists no label")
        return names
    if isinstance(labels, str):
        return labels.split("|") if "|" in labels else labels.split(",")
    return list(labels)


def normalise_label(name: object) -> str:
    """A label as training writes category names: surrounding and repeated whitespace removed."""
    if not isinstance(name, str):
        raise ValueError(f"a label name must be a string, got {type(name).__name__} {name!r}")
    return " ".join(name.split())


def check_labels(names: Sequence[object]) -> tuple[str, ...]:
    """Normalised label names, refusing an empty list, empty names and duplicates (case-insensitive).

    Raises:
        ValueError: Naming the offending entry.
    """
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"labels must be a list of names, got {type(names).__name__} {names!r}")
    if len(names) == 0:
        raise ValueError("labels: the list of label names is empty")
    out, first = [], {}
    for i, raw in enumerate(names):
        name = normalise_label(raw)
        if not name:
            raise ValueError(f"labels[{i}] is empty ({raw!r})")
        key = name.casefold()
        if key in first:
            raise ValueError(f"labels[{i}] {name!r} duplicates labels[{first[key]}] {names[first[key]]!r}")
        first[key] = i
        out.append(name)
    return tuple(out)


def similarity_neighbours(text: np.ndarray, seen_text: np.ndarray, k: int) -> np.ndarray:
    """Indices [N, K] of the K seen categories most similar to each text feature (cosine, best first).

    Shapes:
        text [N, D], seen_text [S, D] -> [N, K]

    Raises:
        ValueError: When there are fewer than K seen categories.
    """
    if k > len(seen_text):
        raise ValueError(f"k={k} neighbours asked but the model has only {len(seen_text)} seen categories")
    a = text / np.linalg.norm(text, axis=1, keepdims=True)
    b = seen_text / np.linalg.norm(seen_text, axis=1, keepdims=True)
    cosine = a @ b.T  # [N, S]
    top = (
        np.argpartition(-cosine, k - 1, axis=1)[:, :k]
        if k < cosine.shape[1]
        else np.tile(np.arange(k), (len(a), 1))
    )
    order = np.take_along_axis(cosine, top, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
    return np.take_along_axis(top, order, axis=1).astype(np.int64)


@dataclass(frozen=True)
class LabelSet:
    """The labels of one request, ready to score.

    Attributes:
        names: The requested labels (normalised), in request order.
        vocabulary: What the model scores: the requested labels first, then the seen categories their scores
            depend on through the IST graph (neighbours, and theirs, up to the number of GAT layers).
        policies: Per requested label, where its neighbours came from: ``training``, ``similarity``, ``llm``.
    """

    names: tuple[str, ...]
    vocabulary: Vocabulary
    policies: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def nbytes(self) -> int:
        """Bytes the label set holds: its arrays and its strings (UTF-8), what a cache of them must bound."""
        vocab = self.vocabulary
        arrays = vocab.text.nbytes + vocab.neighbours.nbytes + vocab.category_ids.nbytes
        strings = (*self.names, *vocab.names, *vocab.roles, *self.policies)
        return int(arrays + sum(len(s.encode("utf-8")) + 50 for s in strings))  # + a str object's overhead

    def table(self) -> pd.DataFrame:
        """One row per requested label: ``label``, ``role``, ``policy``, ``neighbours`` (names)."""
        vocab = self.vocabulary
        return pd.DataFrame(
            {
                "label": list(self.names),
                "role": list(vocab.roles[: len(self)]),
                "policy": list(self.policies),
                "neighbours": [[vocab.names[j] for j in row] for row in vocab.neighbours[: len(self)]],
            }
        )


class LabelSetCache:
    """Prepared label sets of recent requests, bounded in entries and in bytes; least recently used out.

    Preparing new names costs the text tower; a server keeps the label lists its clients send again. However
    many distinct lists arrive, the cache holds at most ``max_entries`` sets and ``max_bytes`` bytes
    (:attr:`LabelSet.nbytes`); a single set larger than ``max_bytes`` is returned but not kept. Safe to share
    between threads: sets are built one at a time (a tokenizer may not be used by two threads at once).

    Args:
        max_entries: Label sets kept.
        max_bytes: Bytes kept, summed over the sets.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = int(max_entries), int(max_bytes)
        self._sets: OrderedDict[Hashable, LabelSet] = OrderedDict()
        self._nbytes = 0
        self._lock, self._build_lock = threading.Lock(), threading.Lock()

    def __len__(self) -> int:
        return len(self._sets)

    @property
    def nbytes(self) -> int:
        """Bytes of the label sets kept."""
        return self._nbytes

    def _kept(self, key: Hashable) -> LabelSet | None:
        with self._lock:
            if key not in self._sets:
                return None
            self._sets.move_to_end(key)
            return self._sets[key]

    def get(self, key: Hashable, build: Callable[[], LabelSet]) -> LabelSet:
        """The set kept under ``key``, else ``build()`` (kept when it fits). Hits never wait for a build."""
        found = self._kept(key)
        if found is not None:
            return found
        with self._build_lock:
            found = self._kept(key)  # built by another thread while this one waited
            if found is not None:
                return found
            label_set = build()
            if label_set.nbytes <= self.max_bytes:
                self._keep(key, label_set)
        return label_set

    def _keep(self, key: Hashable, label_set: LabelSet) -> None:
        with self._lock:
            self._sets[key] = label_set
            self._nbytes += label_set.nbytes
            while len(self._sets) > self.max_entries or self._nbytes > self.max_bytes:
                self._nbytes -= self._sets.popitem(last=False)[1].nbytes
