"""Whose fault a read failure is: the one item's (quarantine it) or everyone's (fail the step).

The line matters because quarantining moves watermarks past the item: calling a network outage
an item error would hide data behind them, and calling a bad item a step error would let one
item block every run. Reasons are stored escaped and without card numbers or e-mail addresses.
"""

from __future__ import annotations

import sqlite3

import requests
import sqlalchemy as sa
import urllib3.exceptions

from checkout_freshportal.errors import PermanentError, is_permanent
from checkout_freshportal.http.errors import HttpError
from checkout_freshportal.logsafe import safe_masked
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.errors import is_data_error

#: HTTP statuses that concern the one object asked for, not the account or the service: the
#: object is gone or unknown (404, 410) or refused as it is (422). A 401/403/400 would fail every
#: item the same way, so it fails the task instead (permanent, no retry), as before.
ITEM_HTTP_STATUSES = frozenset({404, 410, 422})
_TRANSIENT = (OSError, requests.RequestException, urllib3.exceptions.HTTPError)


def is_item_error(exc: BaseException, *, download: bool = False) -> bool:
    """Whether ``exc``, raised while reading one item, is that item's problem.

    Yes for what the item's data causes: a mapping or validation error, an unreadable report file
    (``ReportLoadError``), a value the database refuses (``is_data_error``), a 404/410/422 for that
    one object, and for a file ``download`` any permanent HTTP error but a 401 (storage refusing
    one file's fresh signed URLs: a 403 after the client's retries). No for what would fail any
    item the same way or may pass by itself: the network, a 5xx or 429 after the client's
    retries, an auth error, the database being down or locked. Those fail the step as before
    (Airflow retries the transient ones).
    """
    if not isinstance(exc, Exception) or isinstance(exc, TooManyUnreadableError):
        return False  # the step's verdict (met inside a retried listing entry's files), no item's
    if isinstance(exc, HttpError):
        if download and exc.status != 401 and is_permanent(exc):
            return True
        return exc.status in ITEM_HTTP_STATUSES
    if isinstance(exc, sa.exc.SQLAlchemyError) or _is_driver_error(exc):
        return is_data_error(exc)
    return not isinstance(exc, _TRANSIENT)


def is_transient_read_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the service or the network failed this time (a 5xx or 429 after the
    client's retries, a timeout, a reset): a retried quarantined item that meets it is deferred,
    not failed. An auth error (permanent) or the database is no such thing."""
    if isinstance(exc, HttpError):
        return not is_permanent(exc)
    return isinstance(exc, _TRANSIENT) and not _is_driver_error(exc)


def _is_driver_error(exc: BaseException) -> bool:
    """A database driver's own error, not wrapped by SQLAlchemy: report staging COPYs through the
    psycopg connection itself, so a lost connection, a statement timeout or a deadlock arrives
    raw and must count as the database's problem, as it does wrapped (``is_data_error``)."""
    return isinstance(exc, sqlite3.Error) or hasattr(exc, "sqlstate")


def reason_of(exc: BaseException) -> str:
    """The error as one escaped line without card numbers or e-mail addresses."""
    return safe_masked(f"{type(exc).__name__}: {exc}", store.REASON_LIMIT - 100)


def error_class_of(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class TooManyUnreadableError(PermanentError, RuntimeError):
    """One step met more unreadable items than ``quarantine_max_new_per_step``: a bug or a format
    change looks like every item being bad, and quarantining them all would hide it behind
    moved watermarks. The batch at hand is not landed; a retry would read the same."""


class UnreadableItemError(ValueError):
    """An item ingestion cannot even name or order (no usable id, no creation time)."""
