"""Wait for a condition instead of sleeping a guessed time.

A fixed ``time.sleep`` is either too short on a loaded machine (the test flakes) or too long
everywhere else (the suite crawls), and when it is too short the failure says nothing about what
did not happen. Polling the condition returns as soon as it holds, and a timeout fails with the
name of what was awaited. Where the wait is for simulated time (a link expiring, a webhook
resend), advance the simulator's clock instead (``POST /_sandbox/advance``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that value.

    Raises AssertionError naming ``what`` after ``timeout`` seconds (checked once more at the
    deadline, so a condition that becomes true while the last interval passes still counts).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
