"""Nothing leaves the machine unasked: the project switches off the telemetry of the tools it runs.

* **Kedro and Kedro-Viz** read the project's ``.telemetry`` file (``consent: false``, shipped at the project
  root) before any command sends usage data (``kedro run``, ``kedro viz build``, ...).
* **MLflow** reads only environment variables (``MLFLOW_DISABLE_TELEMETRY``, ``DO_NOT_TRACK``), when
  ``mlflow`` is imported. :func:`opt_out` sets ``MLFLOW_DISABLE_TELEMETRY=true`` unless the variable is set
  already (a user who sets it to ``false`` has asked), and re-reads the switch when ``mlflow`` was imported
  before. Importing :mod:`ovmlr` calls it: every Kedro command of the project (its settings are ovmlr's), the
  served model (it imports ovmlr) and every script that uses ovmlr.

MLflow sends nothing until its first event (its configuration is fetched then), which is always after this
package is imported in the commands above; ``tests/test_telemetry.py`` runs them with every telemetry
variable removed and checks that nothing tried to connect outside the machine.
"""

from __future__ import annotations

import os
import sys

MLFLOW_SWITCH = "MLFLOW_DISABLE_TELEMETRY"


def opt_out() -> None:
    """Switch off MLflow's telemetry in this process and its children, unless the user chose otherwise."""
    os.environ.setdefault(MLFLOW_SWITCH, "true")
    if "mlflow.telemetry" in sys.modules:  # imported before ovmlr: its client was made without the switch
        from mlflow.telemetry import set_telemetry_client

        set_telemetry_client()  # no client when telemetry is disabled
