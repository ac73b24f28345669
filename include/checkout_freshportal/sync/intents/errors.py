"""How a run of an outbound step fails: after the whole batch had its chance, naming each item.

Light enough to import at DAG parse time. A refusal (bad data, a request Checkout.com or
FreshPortal refused) is ``permanent``, so Airflow's retry policy does not retry it; a deferral
(rate limit, 5xx, timeout, a call left in doubt) is not, so a task retry may finish the work.
"""

from __future__ import annotations

from checkout_freshportal.errors import PermanentError


class OutboundError(RuntimeError):
    """Some items could not be served this run; the rest were. ``failures``: one line each."""

    def __init__(self, message: str, failures: list[str]) -> None:
        shown = "\n  " + "\n  ".join(failures[:20]) if failures else ""
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(message + shown + more)
        self.failures = failures

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the message and the failures across pickling (Airflow may pickle exceptions).
        return (type(self), (str(self).split("\n", 1)[0], self.failures))


class OutboundDeferred(OutboundError):
    """Transient: a task retry or the next run resumes these items."""


class OutboundRefused(PermanentError, OutboundError):
    """Refused for good (data to fix, or an answer the other side will not take): no retry."""
