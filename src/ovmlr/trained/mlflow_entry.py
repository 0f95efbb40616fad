"""Models-from-code entry of the logged MLflow model: builds :class:`TrainedC2SRTPyfunc` (no pickle)."""

from mlflow.models import set_model

from ovmlr.trained.pyfunc import TrainedC2SRTPyfunc

set_model(TrainedC2SRTPyfunc())
