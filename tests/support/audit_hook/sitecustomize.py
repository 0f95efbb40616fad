"""Records every attempt of this interpreter to reach another machine (``tests/support/network_audit.py``).

Python imports ``sitecustomize`` at start-up when it is on ``sys.path``: putting this folder first on
``PYTHONPATH`` audits the command and every Python process it starts. Each socket connection, send or name
lookup is appended to the file named by ``OVMLR_NETWORK_AUDIT_LOG`` as one JSON line, *before* the call runs,
so an attempt is recorded even when it fails (an offline machine, a closed network namespace). A ``start``
line records each audited process, which tells that the audit ran in it.
"""

import json
import os
import sys

_LOG = os.environ.get("OVMLR_NETWORK_AUDIT_LOG")
_EVENTS = {"socket.connect": 1, "socket.sendto": 1, "socket.getaddrinfo": 0, "socket.gethostbyname": 0}


def _write(event, host):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps({"pid": os.getpid(), "event": event, "host": host, "argv": sys.argv[:3]}) + "\n")


def _record(event, args):
    if event not in _EVENTS:
        return
    target = args[_EVENTS[event]]
    host = target[0] if isinstance(target, tuple) and target else target
    _write(event, host.decode("utf-8", "replace") if isinstance(host, bytes) else str(host))


if _LOG:
    _write("start", "")
    sys.addaudithook(_record)
