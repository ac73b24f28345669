"""When to retry a Checkout.com call: the shared rule of :mod:`checkout_freshportal.http.retry`.

Retried: 429 (rate limited; the request was not processed), 5xx and timeouts/connection
errors -- the last two only when replaying the request cannot double an effect: reads, the
read-only ``POST /payments/search``, and money-moving POSTs that carry a
``Cko-Idempotency-Key`` (the API replays the first answer for a repeated key). A 409 means
the first request with the same key is still in flight: wait ``conflict_wait`` and send the
same key again. Never retried: every other 4xx -- repeating a request the API refused gives
the same answer and only burns the account-wide rate budget.

Kept as a module so ``checkout.retry.BackoffPolicy`` and ``is_retryable`` stay where callers
and tests import them from.
"""

from __future__ import annotations

from ..http.retry import BackoffPolicy, is_retryable, wait_backoff

__all__ = ["BackoffPolicy", "is_retryable", "wait_backoff"]
