"""Failures of the payment-request steps, in a module light enough to import at DAG parse time.

A refusal (bad order data) is ``permanent``, so the DAG's retry policy does not retry it; a
deferral (rate limit, 5xx, timeout, a POST left in doubt) is not, so a task retry may finish it.
"""

from __future__ import annotations

from checkout_freshportal.errors import PermanentError


class PaymentRequestError(RuntimeError):
    """Some orders could not be served this run; the rest were. ``failures``: one line each."""

    def __init__(self, message: str, failures: list[str]) -> None:
        shown = "\n  " + "\n  ".join(failures[:20]) if failures else ""
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        super().__init__(message + shown + more)
        self.failures = failures

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the message and the failures across pickling (Airflow may pickle exceptions).
        return (type(self), (str(self).split("\n", 1)[0], self.failures))


class PaymentRequestsDeferred(PaymentRequestError):
    """Transient: rate limits, 5xx, timeouts, in-doubt POSTs. A task retry may finish the work."""


class PaymentRequestsRefused(PermanentError, PaymentRequestError):
    """Checkout.com or our validation refused an order's link (bad data): fix the order; no retry."""
