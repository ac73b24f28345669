"""Workers of ``--workers N`` die with their supervisor instead of serving on as orphans.

uvicorn's multiprocess supervisor starts N worker processes that share the listening socket. A
SIGTERM to the supervisor stops them, but a SIGKILL (an OOM kill, ``kill -9``, a container
runtime that only kills the main pid) cannot be relayed: the workers are re-parented and keep
accepting webhooks on the port, with nobody to restart or stop them, and a new sidecar started
on that port then fails or, with ``SO_REUSEPORT`` elsewhere, shares traffic with stale code.

So each worker, as it builds its app, ties itself to the supervisor:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM the moment the
  parent dies, and uvicorn's handler drains the worker (queued rows are committed and answered,
  the socket is closed);
* elsewhere, a daemon thread that notices the parent change within a second and sends the same
  SIGTERM to its own process;
* either way, a parent that died *before* the tie was made is caught by comparing the parent
  pid with the supervisor's, which the CLI exports in ``CFP_SIDECAR_SUPERVISOR_PID``.

Without that variable (one process, tests, the benchmark) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

SUPERVISOR_PID_ENV = "CFP_SIDECAR_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 1.0


def exit_with_supervisor() -> None:
    """In a worker: SIGTERM to this process as soon as its supervisor is gone (module docstring)."""
    raw = os.environ.get(SUPERVISOR_PID_ENV)
    if not raw or not raw.isdigit():
        return
    supervisor = int(raw)
    if supervisor == os.getpid():  # the supervisor's own process (``--workers 1`` runs in it)
        return
    if not _set_parent_death_signal(signal.SIGTERM):
        threading.Thread(
            target=_watch_parent, args=(supervisor,), name="sidecar-orphan-watch", daemon=True
        ).start()
    if os.getppid() != supervisor:  # it died before the tie was made: nobody will signal us
        log.warning("sidecar supervisor %d is gone; this worker stops", supervisor)
        os.kill(os.getpid(), signal.SIGTERM)


def _set_parent_death_signal(sig: signal.Signals) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` through libc; False where that does not exist."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(_POLL_SECONDS)
    log.warning("sidecar supervisor %d is gone; this worker stops", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)
