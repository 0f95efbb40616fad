"""A :class:`~ovmlr.trained.model.TrainedC2SRT` as a folder on disk (safetensors, JSON, parquet)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ovmlr.trained.artifact import CONFIG_FILE, load_trained, save_trained
from ovmlr.trained.model import TrainedC2SRT


class TrainedModelDataset(AbstractDataset[TrainedC2SRT, TrainedC2SRT]):
    """Saves a trained model into ``path`` (written beside it, then swapped in: never half-written).

    Example catalog entry::

        c2srt_trained:
          type: ovmlr.datasets.TrainedModelDataset
          path: data/06_models/c2srt_trained

    Args:
        path: The model folder.
        device: Where the loaded model's backbone runs (``cpu``, ``cuda``).
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, path: str, device: str = "cpu", metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._device = device
        self.metadata = metadata

    def _load(self) -> TrainedC2SRT:
        try:
            return load_trained(self._path, self._device)
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc

    def _save(self, data: TrainedC2SRT) -> None:
        if not isinstance(data, TrainedC2SRT):
            raise DatasetError(f"{self._path}: expected a TrainedC2SRT, got {type(data).__name__}")
        staging = self._path.with_name(f".{self._path.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        save_trained(data, staging)
        old = self._path.with_name(f".{self._path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self._path.exists():
            self._path.rename(old)
        staging.rename(self._path)
        shutil.rmtree(old, ignore_errors=True)

    def _exists(self) -> bool:
        return (self._path / CONFIG_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "device": self._device}
