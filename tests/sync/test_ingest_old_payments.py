"""Changes to payments older than the re-walk still land, through report lines and disputes.

The search API finds payments by creation time, so a refund on a two-week-old payment does not
bring it back into a search window. The financial-actions report does list the refund; the
ingestion re-reads the payment that line refers to.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import parse_ts

from ingest_fixtures import client_for, migrated_engine


def _sandbox_now(sandbox):
    return parse_ts(requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"])


@pytest.mark.parametrize("sandbox", ["tidy", "real"], indirect=True)
def test_refund_on_a_payment_older_than_the_rewalk_is_found_through_reports(sandbox, migrated_warehouse_url):
    engine = migrated_engine(migrated_warehouse_url)
    client = client_for(sandbox)
    settings = IngestSettings(settle=timedelta(0), rewalk=timedelta(days=1))
    ingest.run_all(client, engine, settings, now=_sandbox_now(sandbox), run_id="first")

    with engine.connect() as conn:
        old = conn.execute(
            sa.text(
                "select payment_id, total_refunded_minor from stg_payments "
                "where total_captured_minor > total_refunded_minor and status = 'Captured' "
                "order by requested_on limit 1"
            )
        ).one()
    # older than the re-walk (1 day) reaches back from the watermark
    assert _sandbox_now(sandbox) - timedelta(days=5) > ingest_requested_on(engine, old.payment_id)
    refund = client.refund_payment(old.payment_id, {"amount": 1, "reference": "late-refund"})

    # Two days pass: the refund is processed and a daily financial-actions report lists it. The
    # report of a day comes out a few hours after the (settlement time zone's) midnight that ends
    # it, so 26 hours were not enough when the test started in the first hour after midnight
    # (the sandbox's clock is the wall clock): at 00:20 UTC the report with the refund was due
    # at 03:00 the next day, 26 h 40 min later. 50 hours reach it from any hour.
    requests.post(
        f"{sandbox.base_url}/_sandbox/advance", json={"hours": 50, "payments_per_hour": 0}, timeout=60
    )
    out = ingest.run_all(client, engine, settings, now=_sandbox_now(sandbox), run_id="second")

    assert out["refresh_referenced_payments"]["fetched"] >= 1
    with engine.connect() as conn:
        refunded = conn.execute(
            sa.text("select total_refunded_minor from stg_payments where payment_id = :p"),
            {"p": old.payment_id},
        ).scalar_one()
        action = conn.execute(
            sa.text("select action_type, amount_minor from stg_payment_actions where action_id = :a"),
            {"a": refund["action_id"]},
        ).one()
    if sandbox.state.config.real_shapes:
        # GET /payments/{id} as Checkout.com recorded it has no balances: it says nothing about
        # them, so the balance the search stated stays (never NULL, never 0); the refund itself
        # is in the actions below
        assert old.total_refunded_minor is not None
        assert refunded == old.total_refunded_minor
    else:
        assert refunded == old.total_refunded_minor + 1
    assert tuple(action) == ("Refund", 1)

    # Every gateway action a landed report line names is now explained by staged payment actions.
    # (A full match with the scenario is not expected here: actions on old payments that no
    # report lists yet, such as a capture late in the advanced day, arrive with the next report
    # or, in near-real time, by webhook.)
    with engine.connect() as conn:
        unexplained, _ = ingest.referenced_payment_ids(conn, None, 1000)
    assert unexplained == []
    engine.dispose()


def ingest_requested_on(engine, payment_id):
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("select requested_on from stg_payments where payment_id = :p"), {"p": payment_id}
        ).scalar_one()
    return parse_ts(value, assume_utc=True)
