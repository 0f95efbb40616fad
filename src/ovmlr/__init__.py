"""ovmlr: open-vocabulary multi-label image recognition (C²SRT) as Kedro pipelines."""

from .telemetry import opt_out

__version__ = "0.1.0"

opt_out()  # nothing leaves the machine unasked (ovmlr.telemetry)
