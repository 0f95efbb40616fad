"""The folder of shipped demo-backbone weights (``src/ovmlr/backbones/shipped``) as a Kedro dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ovmlr.backbones.shipped import ShippedBackbone, ShippedRelease, read_shipped, write_shipped


class ShippedBackboneDataset(AbstractDataset[ShippedRelease, dict[str, ShippedBackbone]]):
    """Loads every shipped backbone in the folder by model name (``{}`` when there is none); saves one
    release (weights as safetensors + its manifest, :mod:`ovmlr.backbones.shipped`).

    Example catalog entry::

        shipped_demo_backbone:
          type: ovmlr.datasets.ShippedBackboneDataset
          path: src/ovmlr/backbones/shipped

    Args:
        path: The folder.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _load(self) -> dict[str, ShippedBackbone]:
        try:
            return read_shipped(self._path)
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc

    def _save(self, data: ShippedRelease) -> None:
        write_shipped(self._path, data)

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
