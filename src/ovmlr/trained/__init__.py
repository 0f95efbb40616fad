"""One trained model, one API: :class:`TrainedC2SRT` encodes raw images, builds a vocabulary for any label
names, scores, and is saved/loaded as one folder in safe formats (:mod:`.artifact`), served through MLflow
(:mod:`.pyfunc`) within the limits and the path rule of :mod:`.limits`."""

from .artifact import load_trained, save_trained
from .labels import LabelSet, check_labels, normalise_label
from .limits import LimitExceeded, PathRefused, ServingLimits
from .model import TrainedC2SRT

__all__ = [
    "LabelSet",
    "LimitExceeded",
    "PathRefused",
    "ServingLimits",
    "TrainedC2SRT",
    "check_labels",
    "load_trained",
    "normalise_label",
    "save_trained",
]
