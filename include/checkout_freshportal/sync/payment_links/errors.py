"""Failures of the payment-request steps, in a module light enough to import at DAG parse time.

A refusal (bad order data) is ``permanent``, so the DAG's retry policy does not retry it; a
deferral (rate limit, 5xx, timeout, a POST left in doubt) is not, so a task retry may finish it.
"""

from __future__ import annotations

from checkout_freshportal.sync.intents.errors import OutboundDeferred, OutboundError, OutboundRefused


class PaymentRequestError(OutboundError):
    """Some orders could not be served this run; the rest were. ``failures``: one line each."""


class PaymentRequestsDeferred(OutboundDeferred, PaymentRequestError):
    """Transient: rate limits, 5xx, timeouts, in-doubt POSTs. A task retry may finish the work."""


class PaymentRequestsRefused(OutboundRefused, PaymentRequestError):
    """Checkout.com or our validation refused an order's link (bad data): fix the order; no retry."""
