"""An exported ONNX model (serialised bytes) as one local file, replaced atomically on save."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class OnnxModelDataset(AbstractDataset[bytes, bytes]):
    """A serialised ONNX model (``bytes``) in one ``.onnx`` file, written beside it and swapped in.

    Example catalog entry::

        onnx_model:
          type: ovmlr.datasets.OnnxModelDataset
          filepath: data/06_models/export/model.onnx

    Args:
        filepath: The ``.onnx`` file.
        metadata: Kedro-Viz and plugin metadata, ignored here.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(filepath)
        if self._path.suffix != ".onnx":
            raise DatasetError(f"OnnxModelDataset: '{filepath}' must end in .onnx")
        self.metadata = metadata

    def _load(self) -> bytes:
        return self._path.read_bytes()

    def _save(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray) or not data:
            raise DatasetError(
                f"OnnxModelDataset: expected the serialised model (bytes), got {type(data).__name__}"
            )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_name(f".{self._path.name}.tmp")
        partial.write_bytes(data)
        os.replace(partial, self._path)

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}
