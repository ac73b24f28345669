"""The Airflow retry policy is one rule: permanent errors fail at once, everything else retries.

It must keep working when an error class is renamed or added -- the old policy listed 16
dotted class names and silently stopped matching a renamed one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

from airflow.sdk import RetryAction  # noqa: E402

from checkout_freshportal.checkout import errors as cko  # noqa: E402
from checkout_freshportal.errors import PermanentError  # noqa: E402
from checkout_freshportal.freshportal import errors as fp  # noqa: E402
from checkout_freshportal.money import MoneyError  # noqa: E402
from checkout_freshportal.sync.payment_links.errors import (  # noqa: E402
    PaymentRequestsDeferred,
    PaymentRequestsRefused,
)

from dag_policies import no_retry_on_permanent_errors  # noqa: E402

POLICY = no_retry_on_permanent_errors(reason="fix the cause, then clear the task")


def decide(error: BaseException) -> RetryAction:
    return POLICY.evaluate(error, try_number=1, max_tries=4).action


@pytest.mark.parametrize(
    "error",
    [
        cko.NotFoundError(status=404),
        cko.UnexpectedStatusError(status=405),
        fp.ValidationError(status=422),
        fp.DataError("amount unreadable", field="amount"),
        MoneyError("1.005 EUR"),
        PaymentRequestsRefused("refused", ["order 1"]),
    ],
)
def test_permanent_errors_fail_without_retry(error: BaseException) -> None:
    assert decide(error) is RetryAction.FAIL
    assert POLICY.evaluate(error, 1, 4).reason == "fix the cause, then clear the task"


@pytest.mark.parametrize(
    "error",
    [
        cko.RateLimitedError(status=429),
        cko.ServerError(status=503),
        cko.ConflictError(status=409),
        fp.TransportError("read timeout"),
        PaymentRequestsDeferred("deferred", ["order 1"]),
        RuntimeError("a bug"),
    ],
)
def test_transient_and_unknown_errors_keep_the_task_retries(error: BaseException) -> None:
    assert decide(error) is RetryAction.DEFAULT


def test_a_new_or_renamed_class_needs_no_policy_change() -> None:
    class RenamedRefusal(cko.ValidationError):
        """What a rename or a new subclass looks like: no dotted name anywhere."""

    class BrandNewPermanent(PermanentError, RuntimeError):
        pass

    class BrandNewTransient(fp.ServerError):
        pass

    assert decide(RenamedRefusal(status=422)) is RetryAction.FAIL
    assert decide(BrandNewPermanent("x")) is RetryAction.FAIL
    assert decide(BrandNewTransient(status=502)) is RetryAction.DEFAULT


def test_a_permanent_cause_behind_a_plain_wrapper_still_fails() -> None:
    wrapper = RuntimeError("ingest step failed")
    wrapper.__cause__ = cko.AuthenticationError(status=401)
    assert decide(wrapper) is RetryAction.FAIL
