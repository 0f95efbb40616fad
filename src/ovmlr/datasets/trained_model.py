"""A trained model (:class:`~ovmlr.trained.model.TrainedC2SRT` or
:class:`~ovmlr.multimodal.trained.TrainedCSCF`) as a folder on disk (safetensors, JSON, parquet)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ovmlr.multimodal.trained import TrainedCSCF, load_cscf, save_cscf
from ovmlr.trained.artifact import CONFIG_FILE, load_trained, save_trained
from ovmlr.trained.model import TrainedC2SRT

# flavour -> (model type, writer, reader, the file that marks a complete folder)
_FLAVOURS = {
    "c2srt": (TrainedC2SRT, save_trained, load_trained, CONFIG_FILE),
    "cscf": (TrainedCSCF, save_cscf, lambda path, device: load_cscf(path), "cscf_model.json"),
}


class TrainedModelDataset(AbstractDataset[Any, Any]):
    """Saves a trained model into ``path`` (written beside it, then swapped in: never half-written).

    Example catalog entry::

        c2srt_trained:
          type: ovmlr.datasets.TrainedModelDataset
          path: data/06_models/c2srt_trained

    Args:
        path: The model folder.
        device: Where the loaded model's backbone runs (``cpu``, ``cuda``); a CSCF model has no backbone and
            always loads on the CPU.
        flavour: ``c2srt`` (default) or ``cscf`` (the multimodal model).
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self, path: str, device: str = "cpu", flavour: str = "c2srt", metadata: dict[str, Any] | None = None
    ) -> None:
        if flavour not in _FLAVOURS:
            raise DatasetError(
                f"TrainedModelDataset flavour must be one of {sorted(_FLAVOURS)}, got {flavour!r}"
            )
        self._type, self._writer, self._reader, self._marker = _FLAVOURS[flavour]
        self._path = Path(path)
        self._device = device
        self.metadata = metadata

    def _load(self) -> Any:
        try:
            return self._reader(self._path, self._device)
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc

    def _save(self, data: Any) -> None:
        if not isinstance(data, self._type):
            raise DatasetError(f"{self._path}: expected a {self._type.__name__}, got {type(data).__name__}")
        staging = self._path.with_name(f".{self._path.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        self._writer(data, staging)
        old = self._path.with_name(f".{self._path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self._path.exists():
            self._path.rename(old)
        staging.rename(self._path)
        shutil.rmtree(old, ignore_errors=True)

    def _exists(self) -> bool:
        return (self._path / self._marker).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "device": self._device}
