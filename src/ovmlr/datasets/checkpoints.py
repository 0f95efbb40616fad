"""Per-epoch training checkpoints, grouped by a run fingerprint, for ``resume: true``.

Layout: ``<path>/<fingerprint>/epoch_<NNNN>.pt``. Each save writes one epoch atomically (temporary file,
then ``os.replace``), so an interrupted run leaves only complete checkpoints. ``load`` returns a
:class:`CheckpointStore` handle; nothing is read until a checkpoint is asked for.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError

_EPOCH_FILE = re.compile(r"^epoch_(\d{4,})\.pt$")


class CheckpointStore:
    """Read access to the checkpoints of every fingerprint under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def epochs(self, fingerprint: str) -> list[int]:
        """Epochs saved for ``fingerprint``, ascending (empty when none)."""
        folder = self.root / fingerprint
        if not folder.is_dir():
            return []
        found = (_EPOCH_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def load(self, fingerprint: str, epoch: int) -> dict[str, Any]:
        """The checkpoint of one epoch (a dict as saved)."""
        path = self.root / fingerprint / f"epoch_{epoch:04d}.pt"
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise DatasetError(f"No checkpoint for epoch {epoch} at '{path}'") from exc
        except Exception as exc:  # noqa: BLE001 - re-raised with the file named
            raise DatasetError(f"Cannot read checkpoint '{path}': {exc}") from exc

    def latest(self, fingerprint: str) -> dict[str, Any] | None:
        """The newest checkpoint of ``fingerprint``, or ``None``."""
        epochs = self.epochs(fingerprint)
        return self.load(fingerprint, epochs[-1]) if epochs else None


class TrainingCheckpointsDataset(AbstractDataset[dict[str, Any], CheckpointStore]):
    """Saves one checkpoint dict per call; loads a :class:`CheckpointStore`.

    A saved dict must hold ``fingerprint`` (str) and ``epoch`` (int); everything else is stored as given
    (model/optimiser state dicts, metrics, config).

    Args:
        path: Root folder of the checkpoints.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._root = Path(path)
        self.metadata = metadata

    def _load(self) -> CheckpointStore:
        return CheckpointStore(self._root)

    def _save(self, data: dict[str, Any]) -> None:
        for key in ("fingerprint", "epoch"):
            if key not in data:
                raise DatasetError(f"A training checkpoint needs the key '{key}'; got {sorted(data)}")
        folder = self._root / str(data["fingerprint"])
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"epoch_{int(data['epoch']):04d}.pt"
        tmp = folder / f".{final.name}.tmp"
        torch.save(data, tmp)
        os.replace(tmp, final)

    def _exists(self) -> bool:
        return self._root.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._root)}
