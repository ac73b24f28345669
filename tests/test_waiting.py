"""wait_until returns as soon as its condition holds and fails by name when it never does."""

from __future__ import annotations

import time

import pytest

from waiting import wait_until


def test_returns_the_first_truthy_value_without_waiting_out_the_timeout() -> None:
    calls = iter([None, 0, "ready"])
    started = time.monotonic()
    assert wait_until(lambda: next(calls), timeout=30, what="readiness", interval=0.001) == "ready"
    assert time.monotonic() - started < 5


def test_a_condition_that_never_holds_fails_naming_it() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match="waiting for the moon"):
        wait_until(lambda: False, timeout=0.05, what="the moon", interval=0.01)
    assert time.monotonic() - started >= 0.05
