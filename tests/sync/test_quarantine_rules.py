"""Which failures quarantine one item and which fail the step, and how a reason is kept."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import requests
import sqlalchemy as sa
from psycopg import errors as pg

from checkout_freshportal.checkout import errors as cko
from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.timeutil import TimestampError
from checkout_freshportal.warehouse.mappers import MappingError
from checkout_freshportal.warehouse.report_csv import ReportColumnsError


@pytest.mark.parametrize(
    "error",
    [
        MappingError("payment", "pay_1", "amount", "not an integer"),
        TimestampError("not an ISO 8601 timestamp"),
        ReportColumnsError("missing required column(s)"),
        q.UnreadableItemError("no id"),
        KeyError("id"),
        cko.NotFoundError(status=404),
        cko.ValidationError(status=422),
        sa.exc.IntegrityError("insert", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        # raw from the driver (report staging COPYs through psycopg itself): the row's values
        pg.InvalidTextRepresentation("invalid input syntax for type numeric"),
        pg.UniqueViolation("duplicate key value"),
        sqlite3.IntegrityError("UNIQUE constraint failed"),
    ],
)
def test_the_items_own_problems_are_quarantined(error: Exception) -> None:
    assert q.is_item_error(error)


@pytest.mark.parametrize(
    "error",
    [
        cko.AuthenticationError(status=401),  # every item would fail alike
        cko.ActionNotAllowedError(status=403),
        cko.ServerError(status=503),
        cko.RateLimitedError(status=429),
        cko.CheckoutTransportError("read timeout"),
        requests.ConnectionError("reset"),
        ConnectionResetError(),
        sa.exc.OperationalError("select", {}, sqlite3.OperationalError("database is locked")),
        # raw from the driver: the database, not the file being staged
        psycopg.OperationalError("server closed the connection unexpectedly"),
        pg.QueryCanceled("canceling statement due to statement timeout"),
        pg.DeadlockDetected("deadlock detected"),
        pg.DiskFull("could not extend file"),
        sqlite3.OperationalError("database is locked"),
        q.TooManyUnreadableError("more than 100 unreadable items in one step"),
        KeyboardInterrupt(),
    ],
)
def test_what_would_fail_any_item_fails_the_step(error: BaseException) -> None:
    assert not q.is_item_error(error)


def test_a_file_that_storage_keeps_refusing_is_the_files_problem() -> None:
    refused = cko.ActionNotAllowedError(status=403)  # after fresh signed URLs were tried
    assert q.is_item_error(refused, download=True)
    assert not q.is_item_error(refused)
    assert not q.is_item_error(cko.AuthenticationError(status=401), download=True)
    assert not q.is_item_error(cko.ServerError(status=502), download=True)


def test_a_reason_is_one_bounded_line_without_card_numbers_or_emails() -> None:
    huge = ValueError("x" * 100_000 + "\n4111 1111 1111 1111 jan@example.nl")
    reason = q.reason_of(huge)
    assert len(reason) < 2000
    assert "\n" not in reason
    short = q.reason_of(ValueError("card 4111111111111111, mail jan@example.nl\r\n\x1b[31m"))
    assert short == "ValueError: card ************1111, mail ***@***\\x0d\\x0a\\x1b[31m"


def test_an_object_without_a_usable_id_is_named_by_its_content() -> None:
    assert q.item_id_of({"id": "pay_1"}) == "pay_1"
    named = {q.item_id_of(obj) for obj in ({"amount": 1}, {"amount": 1}, {"id": "pay\n1"}, ["x"])}
    assert len(named) == 3
    assert all(i.startswith("sha256:") for i in named)


def test_a_step_giving_up_inside_a_retry_is_not_one_more_attempt_of_the_item(migrated_warehouse_url) -> None:
    """A retried listing entry loads its files; too many of them unreadable ends the step."""
    from checkout_freshportal.warehouse import quarantine as store

    from ingest_fixtures import migrated_engine

    engine = migrated_engine(migrated_warehouse_url)
    failure = store.Failure(q.SOURCE_REPORTS, "rpt_1", "TimestampError: x", "X", store.RAW_PAYLOAD)
    with engine.begin() as conn:
        store.record_failure(conn, failure, max_attempts=3)
    quarantine = q.Quarantine(
        engine, q.QuarantineTally(), sources=[q.SOURCE_REPORTS], max_attempts=3, max_new=1, run_id="r"
    )

    def attempt(item: store.QuarantineItem) -> None:
        raise q.TooManyUnreadableError("more than 1 unreadable items in one step")

    with pytest.raises(q.TooManyUnreadableError):
        quarantine.retry(q.SOURCE_REPORTS, attempt, lambda conn, item: (store.RAW_NONE, None, None))
    with engine.connect() as conn:
        (item,) = store.list_items(conn)
    assert (item.state, item.attempts) == ("quarantined", 1)
    engine.dispose()


def test_an_outage_defers_retries_and_stops_after_a_streak_but_an_auth_error_fails(
    migrated_warehouse_url,
) -> None:
    """A 5xx or the network while retrying leaves items as they were (attempts untouched); after
    ``DEFER_STREAK`` such failures in a row the rest wait for the next run without a call. An
    auth error (permanent) is not "not this time": it fails the step."""
    from checkout_freshportal.http.errors import AuthenticationError, ServerError
    from checkout_freshportal.warehouse import quarantine as store

    from ingest_fixtures import migrated_engine

    engine = migrated_engine(migrated_warehouse_url)
    with engine.begin() as conn:
        for n in range(5):
            failure = store.Failure(q.SOURCE_PAYMENTS, f"pay_{n}", "MappingError: x", "X", store.RAW_NONE)
            store.record_failure(conn, failure, max_attempts=2)
    tally = q.QuarantineTally()
    quarantine = q.Quarantine(
        engine, tally, sources=[q.SOURCE_PAYMENTS], max_attempts=2, max_new=10, run_id="r"
    )
    tried: list[str] = []

    def outage(item: store.QuarantineItem) -> None:
        tried.append(item.item_id)
        raise requests.ConnectionError("reset") if len(tried) == 2 else ServerError(status=503)

    quarantine.retry(q.SOURCE_PAYMENTS, outage, lambda conn, item: (store.RAW_NONE, None, None))

    assert tried == ["pay_0", "pay_1", "pay_2"]
    assert (tally.retried, tally.deferred, tally.failed_again) == (3, 5, [])
    with engine.connect() as conn:
        assert {(i.state, i.attempts) for i in store.list_items(conn)} == {("quarantined", 1)}

    def refused(item: store.QuarantineItem) -> None:
        raise AuthenticationError(status=401)

    with pytest.raises(AuthenticationError):
        quarantine.retry(q.SOURCE_PAYMENTS, refused, lambda conn, item: (store.RAW_NONE, None, None))
    engine.dispose()
