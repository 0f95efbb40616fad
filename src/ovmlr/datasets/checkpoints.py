"""Per-epoch training checkpoints, grouped by a run fingerprint, for ``resume: true``.

Layout: ``<path>/<fingerprint>/epoch_<NNNN>.pt`` and its SHA-256 in ``epoch_<NNNN>.pt.sha256``. Each save
writes one epoch atomically (temporary file, then ``os.replace``), so an interrupted run leaves only
complete checkpoints. ``load`` returns a :class:`DiskCheckpointStore` handle; nothing is read until a
checkpoint is asked for, and a checkpoint that rotted on disk (truncated, a flipped bit) is an error naming
it and what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError

from ovmlr.integrity import DamagedFile, read_or_damaged, verify_sidecar, write_sidecar

_EPOCH_FILE = re.compile(r"^epoch_(\d{4,})\.pt$")
DAMAGED_ADVICE = "Delete it (and its .sha256) and rerun: training resumes from the epoch before"


class DiskCheckpointStore:
    """The checkpoints of every fingerprint under one folder (``ovmlr.training.checkpoints.CheckpointStore``
    on disk: every epoch is kept, ``resume`` continues from the last)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, checkpoint: dict[str, Any], keep_state: bool = True) -> None:
        """Write one epoch atomically (temporary file, then ``os.replace``); every state is kept on disk.

        Raises:
            DatasetError: The checkpoint lacks ``fingerprint`` or ``epoch``.
        """
        for key in ("fingerprint", "epoch"):
            if key not in checkpoint:
                raise DatasetError(f"A training checkpoint needs the key '{key}'; got {sorted(checkpoint)}")
        folder = self.root / str(checkpoint["fingerprint"])
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"epoch_{int(checkpoint['epoch']):04d}.pt"
        tmp = folder / f".{final.name}.tmp"
        torch.save(checkpoint, tmp)
        os.replace(tmp, final)
        write_sidecar(final)

    def epochs(self, fingerprint: str) -> list[int]:
        """Epochs saved for ``fingerprint``, ascending (empty when none)."""
        folder = self.root / fingerprint
        if not folder.is_dir():
            return []
        found = (_EPOCH_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def load(self, fingerprint: str, epoch: int) -> dict[str, Any]:
        """The checkpoint of one epoch (a dict as saved), checked against its SHA-256 when it has one.

        Raises:
            DatasetError: No such checkpoint, or a damaged one (naming the file and what to do).
        """
        path = self.root / fingerprint / f"epoch_{epoch:04d}.pt"
        if not path.is_file():
            raise DatasetError(f"No checkpoint for epoch {epoch} at '{path}'")
        try:
            verify_sidecar(path, DAMAGED_ADVICE)
            return read_or_damaged(
                path, lambda p: torch.load(p, map_location="cpu", weights_only=True), DAMAGED_ADVICE
            )
        except DamagedFile as exc:
            raise DatasetError(f"Cannot read checkpoint: {exc}") from exc

    def latest(self, fingerprint: str) -> dict[str, Any] | None:
        """The newest checkpoint of ``fingerprint``, or ``None``."""
        epochs = self.epochs(fingerprint)
        return self.load(fingerprint, epochs[-1]) if epochs else None


class TrainingCheckpointsDataset(AbstractDataset[dict[str, Any], DiskCheckpointStore]):
    """Saves one checkpoint dict per call; loads a :class:`DiskCheckpointStore`.

    A saved dict must hold ``fingerprint`` (str) and ``epoch`` (int); everything else is stored as given
    (model/optimiser state dicts, metrics, config).

    Args:
        path: Root folder of the checkpoints.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._root = Path(path)
        self.metadata = metadata

    def _load(self) -> DiskCheckpointStore:
        return DiskCheckpointStore(self._root)

    def _save(self, data: dict[str, Any]) -> None:
        DiskCheckpointStore(self._root).save(data)

    def _exists(self) -> bool:
        return self._root.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._root)}
