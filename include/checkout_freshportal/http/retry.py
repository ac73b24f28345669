"""When an HTTP call may be repeated, and how long to wait in between.

Retried: 429 (refused before processing), 5xx and timeouts/connection errors -- the last two
only when replaying cannot double an effect (a read, an idempotent write, a write carrying an
idempotency key; a connection never established is always safe). A 409 means the first request
with the same idempotency key is still in flight: wait and send the same key again. Never
retried: an error whose family is ``permanent`` (every other 4xx) -- the answer would be the
same and the account-wide rate budget would pay for it.

Waits are exponential with *full jitter* (``uniform(0, min(cap, base * 2**n))``): many workers
hitting one shared account limit must not retry in lock-step. A ``Retry-After`` header is a
floor (capped): the server knows better than our guess.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from ..logsafe import safe
from .errors import ConflictError, HttpError, RateLimitedError, ServerError, TransportError


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
        not help). ``Retry-After`` raises the jittered wait to at least its value, capped.
        """
        if isinstance(error, ConflictError):
            return self.conflict_wait
        wait = rand(0.0, self.ceiling(attempt))
        if isinstance(error, HttpError) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.cap))
        return wait


class wait_backoff(wait_base):  # tenacity names wait strategies in lower case
    """Adapter: a :class:`BackoffPolicy` as a tenacity wait strategy."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        return self.policy.delay(retry_state.attempt_number, error)


def is_retryable(error: BaseException, *, replay_safe: bool, has_idempotency_key: bool = False) -> bool:
    """Decide from the exception alone whether another attempt may be made.

    ``replay_safe``: the request can be sent again without risk of a second effect (a read, an
    idempotent write, or a write carrying an idempotency key).
    """
    if not isinstance(error, HttpError) or error.final or error.permanent:
        return False  # permanent, foreign, or an inner call already spent its retries on it
    if isinstance(error, RateLimitedError):
        return True
    if isinstance(error, ConflictError):
        return has_idempotency_key
    if isinstance(error, ServerError):
        return replay_safe
    if isinstance(error, TransportError):
        return replay_safe or not error.request_sent
    return False


def build_retrying(
    *,
    max_retries: int,
    policy: BackoffPolicy,
    retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], None],
    log: logging.Logger,
    what: str,
    on_retry: Callable[[], None] | None = None,
) -> Retrying:
    """A tenacity loop with the shared wait, a warning per retry and ``on_retry`` (stats)."""

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry()
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        # the error's text carries the other side's codes and ids: escaped here, since under
        # Airflow only the masking filter runs, not the project's escaping formatter
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2f s", what, state.attempt_number, safe(str(exc)), wait
        )

    return Retrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_backoff(policy),
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
