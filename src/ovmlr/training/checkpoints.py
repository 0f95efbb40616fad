"""Where a training run's per-epoch checkpoints go: on disk for the pipeline, in memory for the ablation.

A checkpoint is a dict with at least ``fingerprint`` (the run's id), ``epoch``, ``model_state`` and
``history`` (the validation metrics of every epoch so far). The disk store
(:class:`ovmlr.datasets.checkpoints.DiskCheckpointStore`) keeps every epoch, because ``resume`` continues
from the last one; the memory store keeps every epoch's history but a model state only where the trainer
asks for it (the best epoch so far, or the epoch a selection run chose), so an ablation holds at most two
states per configuration.
"""

from __future__ import annotations

from typing import Any, Protocol

Checkpoint = dict[str, Any]


class CheckpointStore(Protocol):
    """Per-epoch checkpoints grouped by run fingerprint."""

    def save(self, checkpoint: Checkpoint, keep_state: bool = True) -> None:
        """Store one epoch's checkpoint (a store may drop its model state unless ``keep_state``)."""

    def latest(self, run_id: str) -> Checkpoint | None:
        """The newest checkpoint of a run (``None`` when it has none)."""

    def load(self, run_id: str, epoch: int) -> Checkpoint:
        """The checkpoint of one epoch whose state was kept."""


class MemoryCheckpointStore:
    """Checkpoints in memory: every epoch's metadata, one model state per run (the latest kept)."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[int, Checkpoint]] = {}

    def save(self, checkpoint: Checkpoint, keep_state: bool = True) -> None:
        runs = self._runs.setdefault(str(checkpoint["fingerprint"]), {})
        if keep_state:
            for kept in runs.values():  # one state per run: the new one replaces the older
                kept.pop("model_state", None)
        light = {
            k: v
            for k, v in checkpoint.items()
            if k not in ("optimizer_state", "scheduler_state", "scaler_state")
        }
        if not keep_state:
            light.pop("model_state", None)
        runs[int(checkpoint["epoch"])] = light

    def latest(self, run_id: str) -> Checkpoint | None:
        runs = self._runs.get(run_id)
        return runs[max(runs)] if runs else None

    def load(self, run_id: str, epoch: int) -> Checkpoint:
        """Raises ``KeyError`` naming the run and epoch when that state was not kept."""
        checkpoint = self._runs.get(run_id, {}).get(epoch)
        if checkpoint is None or "model_state" not in checkpoint:
            raise KeyError(f"run {run_id} kept no model state of epoch {epoch}")
        return checkpoint

    def states_held(self) -> int:
        """How many model states are in memory (for the tests' bound)."""
        return sum("model_state" in c for run in self._runs.values() for c in run.values())
