"""A torch checkpoint file (a state dict, or a dict holding one) as a Kedro dataset.

Files are written atomically (temporary name, then ``os.replace``) and read with ``weights_only=True``, so
only tensors and plain containers are accepted. A checkpoint saved as ``{"state_dict": ..., ...}`` is
loadable by ``open_clip.create_model(name, pretrained=<file>)``, which reads the ``state_dict`` key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError


class TorchStateDictDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """One ``torch.save``-d dict of tensors and plain values.

    Example catalog entry (logged to MLflow on every save)::

        demo_backbone_checkpoint:
          type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
          artifact_path: backbone
          dataset:
            type: ovmlr.datasets.TorchStateDictDataset
            filepath: ${globals:demo_backbone_dir}/open_clip_model.pt

    Args:
        filepath: The ``.pt`` file.
        missing_ok: ``load`` returns ``{}`` when the file does not exist (a read-only view of a checkpoint
            that a node may or may not have written yet) instead of failing.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(
        self, filepath: str, missing_ok: bool = False, metadata: dict[str, Any] | None = None
    ) -> None:
        self._filepath = Path(filepath)
        self._missing_ok = missing_ok
        self.metadata = metadata

    def _load(self) -> dict[str, Any]:
        if not self._filepath.is_file():
            if self._missing_ok:
                return {}
            raise DatasetError(f"No checkpoint at '{self._filepath}'")
        try:
            data = torch.load(self._filepath, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised with the file named
            raise DatasetError(f"Cannot read checkpoint '{self._filepath}': {exc}") from exc
        if not isinstance(data, dict):
            raise DatasetError(f"Checkpoint '{self._filepath}' holds a {type(data).__name__}, not a dict")
        return data

    def _save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or not data:
            raise DatasetError(
                f"Nothing to save to '{self._filepath}': expected a non-empty dict, got {data!r:.80}. "
                "A backbone pipeline configured with a pretrained open_clip backbone trains no demo "
                "backbone: declare demo_backbone_checkpoint and demo_backbone_config as "
                "kedro.io.MemoryDataset in that environment's catalog."
            )
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(f".{self._filepath.name}.tmp")
        torch.save(data, tmp)
        os.replace(tmp, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "missing_ok": self._missing_ok}
