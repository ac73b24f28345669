"""Backoff policy and the retry decision (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout_freshportal.checkout import (
    ActionNotAllowedError,
    AuthenticationError,
    CheckoutError,
    CheckoutTransportError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from checkout_freshportal.checkout.retry import BackoffPolicy, is_retryable


def test_ceiling_doubles_then_caps() -> None:
    p = BackoffPolicy(base=0.5, cap=30.0)
    assert [p.ceiling(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@given(attempt=st.integers(min_value=1, max_value=60))
def test_full_jitter_stays_within_zero_and_ceiling(attempt: int) -> None:
    p = BackoffPolicy(base=0.5, cap=30.0)
    for _ in range(20):
        d = p.delay(attempt, ServerError(status=503))
        assert 0.0 <= d <= p.ceiling(attempt)


def test_jitter_is_full_range() -> None:
    p = BackoffPolicy(base=1.0, cap=30.0)
    assert p.delay(4, rand=lambda lo, hi: lo) == 0.0
    assert p.delay(4, rand=lambda lo, hi: hi) == 8.0


def test_conflict_waits_fixed_and_retry_after_is_a_floor() -> None:
    p = BackoffPolicy(base=0.5, cap=10.0, conflict_wait=30.0)
    assert p.delay(1, ConflictError(status=409)) == 30.0
    assert p.delay(1, RateLimitedError(status=429, retry_after=3.0), rand=lambda lo, hi: lo) == 3.0
    assert p.delay(1, RateLimitedError(status=429, retry_after=300.0), rand=lambda lo, hi: lo) == 10.0


@pytest.mark.parametrize(
    ("error", "replay_safe", "has_key", "expected"),
    [
        (RateLimitedError(status=429), False, False, True),  # refused before processing
        (ServerError(status=502), True, False, True),
        (ServerError(status=502), False, False, False),  # non-idempotent POST: never replay
        (CheckoutTransportError("read timeout", request_sent=True), True, True, True),
        (CheckoutTransportError("read timeout", request_sent=True), False, False, False),
        (CheckoutTransportError("connect timeout", request_sent=False), False, False, True),
        (ConflictError(status=409), True, True, True),
        (ConflictError(status=409), True, False, False),
        (AuthenticationError(status=401), True, True, False),
        (ActionNotAllowedError(status=403), True, True, False),
        (NotFoundError(status=404), True, True, False),
        (ValidationError(status=422), True, True, False),
        (CheckoutError(status=400), True, True, False),
        (ValueError("bug"), True, True, False),
    ],
)
def test_retry_matrix(error: BaseException, replay_safe: bool, has_key: bool, expected: bool) -> None:
    assert is_retryable(error, replay_safe=replay_safe, has_idempotency_key=has_key) is expected


def test_final_errors_are_not_retried_again() -> None:
    err = ServerError(status=503)
    err.final = True  # an inner call (e.g. the token fetch) already spent its retries
    assert not is_retryable(err, replay_safe=True, has_idempotency_key=True)
