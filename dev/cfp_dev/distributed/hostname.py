"""The host name a Celery worker reports on its task instances (``[core] hostname_callable``).

In containers each worker has a host name of its own; here both workers share one machine, so
``socket.getfqdn()`` would give every task instance the same ``hostname`` and the REST API could
not tell which worker ran it. Each worker process gets ``CFP_WORKER_HOSTNAME`` (its
``--celery-hostname``); every other component falls back to the machine's name.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    return os.environ.get("CFP_WORKER_HOSTNAME") or socket.getfqdn()
