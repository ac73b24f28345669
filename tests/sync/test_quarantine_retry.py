"""A quarantined item the service keeps failing holds nothing back, against the real simulator.

A payment and a report file are quarantined; then Checkout.com answers ``GET /payments/{id}``
and that file's download with a 503 (the simulator's poison ``status``). Every step must still
land its walk and move its watermark, put the retry off without failing, and leave the items'
attempts as they were: an outage is not the item's fault.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from test_ingest_quarantine import (
    BAD_FILE,
    WATERMARKS,
    cure,
    pick_victims,
    poison,
    quarantine_rows,
    sandbox_now,
    settings,
)

from checkout_freshportal.sync.ingest import payments
from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.warehouse import quarantine as store

from ingest_fixtures import client_for, migrated_engine


def run(sandbox, engine, run_id: str) -> dict[str, Any]:
    # No client retries: a 503 is final at once, as after the client's retries in production.
    client = client_for(sandbox, max_retries=0)
    return ingest.run_all(client, engine, settings(), now=sandbox_now(sandbox), run_id=run_id)


def test_an_outage_while_retrying_a_quarantined_item_blocks_nothing(sandbox, migrated_warehouse_url):
    victims = pick_victims(sandbox)
    engine = migrated_engine(migrated_warehouse_url)
    poison(sandbox, id=victims["payment"], patch={"amount": "ten"})
    poison(sandbox, id=victims["file"], content=BAD_FILE)
    with pytest.raises(ingest.QuarantinedItemsError):
        run(sandbox, engine, "first")
    before = quarantine_rows(engine)
    assert {k[0] for k in before} == {q.SOURCE_PAYMENTS, q.SOURCE_REPORT_FILES}
    with engine.begin() as conn:
        conn.execute(sa.text("delete from sync_watermarks"))  # so the next run must move them again

    cure(sandbox)
    poison(sandbox, id=victims["payment"], patch={"amount": "ten"})  # still unreadable in search
    poison(sandbox, id=victims["payment"], status=503)  # and its GET fails, as in an outage
    poison(sandbox, id=victims["file"], status=503)
    out = run(sandbox, engine, "outage")  # does not raise: nothing new, nothing failed again

    assert out["ingest_payments"]["quarantine"]["deferred"] == 1
    assert out["ingest_reports"]["quarantine"]["deferred"] == 1
    assert out["ingest_payments"]["quarantine"]["failed_again"] == []
    with engine.connect() as conn:
        marks = dict(conn.execute(sa.text(WATERMARKS)).all())
    assert {"checkout.payments.requested_on", "checkout.reports.created_on"} <= set(marks)
    after = quarantine_rows(engine)
    for key, item in before.items():
        assert (after[key].state, after[key].attempts) == (store.QUARANTINED, item.attempts)

    cure(sandbox)  # the service is back and the poison gone: the next run heals both
    out = run(sandbox, engine, "back")
    assert {r.state for r in quarantine_rows(engine).values()} == {store.RESOLVED}
    engine.dispose()


BALANCES = "select total_authorized_minor, total_captured_minor, total_refunded_minor from stg_payments"


@pytest.mark.parametrize("sandbox", ["real"], indirect=True)
def test_a_retried_payment_without_balances_keeps_the_balances_search_stated(sandbox, migrated_warehouse_url):
    """``GET /payments/{id}`` as Checkout.com records it has no ``balances``: the quarantine retry
    staging it must not erase what the search stated (unknown is not NULL, and never 0)."""
    victims = pick_victims(sandbox)
    engine = migrated_engine(migrated_warehouse_url)
    cfg = settings()
    now = sandbox_now(sandbox)
    client = client_for(sandbox)
    ingest.ingest_payments(client, engine, cfg, now=now, run_id="clean")
    where = " where payment_id = :p"
    with engine.connect() as conn:
        stated = tuple(conn.execute(sa.text(BALANCES + where), {"p": victims["payment"]}).one())
    assert None not in stated

    poison(sandbox, id=victims["payment"], patch={"amount": "ten"})
    near = ingest.Window(now - timedelta(days=6), now)  # the re-walk may not reach it
    out = ingest.ingest_payments(client, engine, cfg, window=near, now=now, run_id="poisoned")
    assert [i["item_id"] for i in out.quarantine.new] == [victims["payment"]]
    cure(sandbox)
    # A backfill far from the payment: only the retry (GET /payments/{id}, no balances) reads it.
    far = ingest.Window(now - timedelta(days=60), now - timedelta(days=59))
    out = ingest.ingest_payments(client, engine, cfg, window=far, now=now, run_id="retry")

    assert out.quarantine.resolved == [f"{q.SOURCE_PAYMENTS} {victims['payment']}"]
    assert "balances" not in client.get_payment(victims["payment"])
    with engine.connect() as conn:
        assert tuple(conn.execute(sa.text(BALANCES + where), {"p": victims["payment"]}).one()) == stated
    engine.dispose()


def test_a_search_item_not_stating_a_balance_is_no_change_of_it() -> None:
    """A search item states three balances of seven: one that leaves out a stored balance has not
    changed it, so it costs no ``/actions`` call; a stated difference is a change."""
    stored = ("Captured", 1000, 1000, 0, 0)
    row = {"status": "Captured", "total_authorized_minor": 1000, "total_captured_minor": 1000}
    row |= {"total_refunded_minor": 0, "total_voided_minor": None}
    assert payments._state_of(row, stored) == stored
    assert payments._state_of({**row, "total_refunded_minor": 5}, stored) != stored
