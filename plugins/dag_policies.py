"""What every DAG of the project shares: schedules from the environment, warehouse assets, and
the retry policy that refuses to retry errors a retry cannot fix.

Kept in plugins/ (on the dag-processor's path) and free of library imports, so a DAG file that
imports it still parses in milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from airflow.sdk import Asset, ExceptionRetryPolicy, RetryAction, RetryRule

#: Errors that mean "our request, credentials or data are wrong": a 4xx other than 409/429, a
#: setting that does not validate, money or a timestamp that cannot be read exactly.
CLIENT_ERRORS: tuple[str, ...] = (
    "checkout_freshportal.checkout.errors.AuthenticationError",
    "checkout_freshportal.checkout.errors.ActionNotAllowedError",
    "checkout_freshportal.checkout.errors.NotFoundError",
    "checkout_freshportal.checkout.errors.ValidationError",
    "checkout_freshportal.checkout.errors.UnexpectedStatusError",
    "checkout_freshportal.checkout.errors.PaginationError",
    "checkout_freshportal.checkout.errors.UnsafeRedirectError",
    "checkout_freshportal.checkout.settings.SettingsError",
    "checkout_freshportal.freshportal.errors.AuthenticationError",
    "checkout_freshportal.freshportal.errors.ForbiddenError",
    "checkout_freshportal.freshportal.errors.ValidationError",
    "checkout_freshportal.freshportal.errors.DataError",
    "checkout_freshportal.freshportal.errors.PaginationError",
    "checkout_freshportal.freshportal.mapping.MappingError",
    "checkout_freshportal.money.MoneyError",
    "checkout_freshportal.timeutil.TimestampError",
)


def schedule_from_env(variable: str, default: str) -> str | None:
    """A cron/preset from ``variable``; ``none`` (or empty) turns the schedule off."""
    value = os.environ.get(variable, default).strip()
    return None if value.lower() in {"", "none"} else value


def warehouse_asset(table: str) -> Asset:
    return Asset(name=table, uri=f"cfp-warehouse://warehouse/{table}", group="warehouse")


def no_retry_on_client_errors(extra: Iterable[str] = (), *, reason: str) -> ExceptionRetryPolicy:
    """Fail at once (no retry) on :data:`CLIENT_ERRORS` plus ``extra``; default policy otherwise."""
    return ExceptionRetryPolicy(
        rules=[RetryRule(exception=[*CLIENT_ERRORS, *extra], action=RetryAction.FAIL, reason=reason)]
    )
