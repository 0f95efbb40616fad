"""Text features computed once: a persistent cache of per-prompt text features, keyed by text tower, template
and name.

A trained model gives every new label name a text feature by running its prompt templates through the text
tower (Eq. 24). The same names come back in later ``predict`` runs and in serving requests; this cache keeps
the per-prompt features on disk so each (tower, template, name) is encoded once, by any process.

Layout: ``<folder>/<tower_id>/<shard>.npz`` with its ``<shard>.npz.sha256`` (:mod:`ovmlr.integrity`). A shard
holds the prompts one call encoded: ``templates``, ``names`` (unicode arrays) and ``features`` [N, D] float32
(L2-normalised), written atomically, read with ``allow_pickle=False``. ``tower_id`` is the backbone's
``backbone_id``, which covers the weights and the precision (a bf16 tower's features are its own). A shard
whose bytes no longer match its checksum, or that cannot be read, is reported with a warning naming the file,
removed, and its prompts encoded again.

The folder is ``globals.text_cache_dir`` for the ``predict`` pipeline (the ``predict_model`` dataset) and the
environment variable ``OVMLR_TEXT_CACHE_DIR`` for a served model.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ovmlr.integrity import DamagedFile, sha256_file, verify_sidecar

logger = logging.getLogger(__name__)

ENV_VAR = "OVMLR_TEXT_CACHE_DIR"
_ADVICE = "It was removed; its prompts are encoded again."


class TextFeatureCache:
    """Per-prompt text features of one text tower, on disk (see the module docstring).

    Args:
        folder: The cache's root folder (created when first written).
        tower_id: Identity of the text tower and its precision (``backbone_id``).

    Raises:
        ValueError: An empty ``tower_id`` or one that is not a plain folder name.
    """

    def __init__(self, folder: str | Path, tower_id: str) -> None:
        if not tower_id or Path(tower_id).name != tower_id:
            raise ValueError(f"text cache: tower_id must be a plain folder name, got {tower_id!r}")
        self.folder = Path(folder) / tower_id
        self._features: dict[tuple[str, str], np.ndarray] = {}
        self._read: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TextFeatureCache({str(self.folder)!r}, {len(self._features)} prompts read)"

    def features(
        self,
        templates: Sequence[str],
        names: Sequence[str],
        encode: Callable[[list[str]], torch.Tensor],
    ) -> torch.Tensor:
        """Per-prompt features of every (template, name), template-major; only the missing ones encoded.

        Args:
            templates: Prompt templates (each with one ``{}``).
            names: Category names.
            encode: Prompts → their L2-normalised features [N, D] (the text tower).

        Shapes:
            → [T·C, D] float32, row ``t·C + c`` = ``templates[t].format(names[c])``
        """
        keys = [(template, name) for template in templates for name in names]
        with self._lock:
            self._refresh()
            missing = list(dict.fromkeys(k for k in keys if k not in self._features))
            if missing:
                encoded = encode([template.format(name) for template, name in missing])
                self._write(missing, encoded.float().cpu().numpy())
            rows = [self._features[key] for key in keys]
        found = len(keys) - len(missing)
        logger.info(
            "text features: %d prompts, %d from %s, %d encoded", len(keys), found, self.folder, len(missing)
        )
        return torch.from_numpy(np.stack(rows)) if rows else torch.empty(0, 0)

    def _refresh(self) -> None:
        """Read the shards not read yet (other processes may have written some)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.npz")):
            if path.name not in self._read:
                self._read_shard(path)

    def _read_shard(self, path: Path) -> None:
        try:
            verify_sidecar(path, _ADVICE)
            with np.load(path, allow_pickle=False) as shard:
                templates, names, features = shard["templates"], shard["names"], shard["features"]
            if not (len(templates) == len(names) == len(features)) or features.ndim != 2:
                raise DamagedFile(path, "its arrays do not line up", _ADVICE)
        except (OSError, ValueError, KeyError) as exc:  # DamagedFile is a ValueError
            logger.warning(
                "text cache: '%s' cannot be used (%s); removed, its prompts are encoded again", path, exc
            )
            for damaged in (path, path.with_name(path.name + ".sha256")):
                damaged.unlink(missing_ok=True)
            return
        self._read.add(path.name)
        for template, name, feature in zip(templates.tolist(), names.tolist(), features, strict=True):
            self._features[(template, name)] = feature

    def _write(self, keys: list[tuple[str, str]], features: np.ndarray) -> None:
        """One new shard (atomic: a temporary file renamed; its checksum written first)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{uuid.uuid4().hex}.npz"
        tmp = self.folder / f".{path.name}.tmp"
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                templates=np.array([t for t, _ in keys], dtype=str),
                names=np.array([n for _, n in keys], dtype=str),
                features=features.astype(np.float32),
            )
        path.with_name(path.name + ".sha256").write_text(sha256_file(tmp) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        self._read.add(path.name)
        for key, feature in zip(keys, features, strict=True):
            self._features[key] = feature.astype(np.float32)
