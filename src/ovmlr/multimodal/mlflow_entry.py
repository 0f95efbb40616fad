"""Models-from-code entry of the logged CSCF model: builds :class:`TrainedCSCFPyfunc` (no pickle)."""

from mlflow.models import set_model

from ovmlr.multimodal.pyfunc import TrainedCSCFPyfunc

set_model(TrainedCSCFPyfunc())
