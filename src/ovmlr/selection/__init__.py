"""Choosing the trained model on validation data, and the one train-and-select path.

:func:`train_and_select` trains the runs of a plan (:mod:`ovmlr.training.runs`) into a checkpoint store and
returns the :class:`~ovmlr.trained.TrainedC2SRT` that :func:`select_trained` makes of them: the epoch and the
output ensemble's zero-shot weight chosen under the recipe's selection protocol, never on the test split. The
training pipeline runs the two halves as two nodes (every epoch saved on disk between them, for ``resume``);
the ablation runner calls :func:`train_and_select` with a store in memory.
"""

from .select import choose_ensemble_weight, select_trained, train_and_select

__all__ = ["choose_ensemble_weight", "select_trained", "train_and_select"]
