"""When to retry a Checkout.com call, and how long to wait in between.

Retried: 429 (rate limited; the request was not processed), 5xx and timeouts/connection
errors -- the last two only when replaying the request cannot double an effect: reads, the
read-only ``POST /payments/search``, and money-moving POSTs that carry a
``Cko-Idempotency-Key`` (the API replays the first answer for a repeated key). A 409 means
the first request with the same key is still in flight: wait and send the same key again.
Never retried: every other 4xx -- repeating a request the API refused gives the same answer
and only burns the account-wide rate budget.

Waits are exponential with *full jitter* (``uniform(0, min(cap, base * 2**n))``): many workers
hitting the same shared account limit must not retry in lock-step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState
from tenacity.wait import wait_base

from .errors import (
    CheckoutError,
    CheckoutTransportError,
    ConflictError,
    RateLimitedError,
    ServerError,
)


@dataclass(frozen=True)
class BackoffPolicy:
    base: float = 0.5
    cap: float = 30.0
    conflict_wait: float = 30.0

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.cap, self.base * (2 ** max(attempt - 1, 0)))

    def delay(
        self,
        attempt: int,
        error: BaseException | None = None,
        *,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Seconds to wait after failed attempt ``attempt``.

        A 409 waits ``conflict_wait`` (the in-flight request needs time to finish, jitter does
        not help). A ``Retry-After`` header (none is documented, but honour one) sets a floor.
        """
        if isinstance(error, ConflictError):
            return self.conflict_wait
        wait = rand(0.0, self.ceiling(attempt))
        if isinstance(error, CheckoutError) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.cap))
        return wait


class wait_backoff(wait_base):  # tenacity names wait strategies in lower case
    """Adapter: a :class:`BackoffPolicy` as a tenacity wait strategy."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        return self.policy.delay(retry_state.attempt_number, error)


def is_retryable(error: BaseException, *, replay_safe: bool, has_idempotency_key: bool) -> bool:
    """Decide from the exception alone whether another attempt may be made.

    ``replay_safe``: the request can be sent again without risk of a second effect (a read, or
    a write carrying an idempotency key).
    """
    if isinstance(error, CheckoutError) and error.final:
        return False  # an inner call already spent its retries on this error
    if isinstance(error, RateLimitedError):
        return True  # refused before processing: safe for any request
    if isinstance(error, ConflictError):
        return has_idempotency_key
    if isinstance(error, ServerError):
        return replay_safe
    if isinstance(error, CheckoutTransportError):
        return replay_safe or not error.request_sent
    return False
