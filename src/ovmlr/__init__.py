"""ovmlr: open-vocabulary multi-label image recognition (C²SRT) as Kedro pipelines."""

from .notices import silence_library_notices
from .telemetry import opt_out

__version__ = "0.1.0"

opt_out()  # nothing leaves the machine unasked (ovmlr.telemetry)
silence_library_notices()  # library deprecations a user cannot act on (ovmlr.notices)
