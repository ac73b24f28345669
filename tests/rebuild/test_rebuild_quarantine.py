"""``cfp rebuild staging`` and the quarantine, on SQLite and PostgreSQL.

Ingestion keeps an unreadable payment raw (``raw_api_objects``) and quarantines it without staging
it: its actions could not be read, or the database refused a value. A payload that maps is not
proof that ingestion staged it, so the rebuild must leave out the versions stored while their item
was (and still is) quarantined, or it would stage what ingestion never did.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rebuild_helpers import cfp, table_rows

from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest.payments import stage_payments
from checkout_freshportal.sync.ingest.step import StepResult
from checkout_freshportal.warehouse import schema

from events_fixtures import migrated

WHOLE = ("--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z")


def _payment(pid: str, status: str, reference: str) -> dict[str, Any]:
    return {
        "id": pid,
        "status": status,
        "requested_on": "2026-03-01T10:00:00Z",
        "currency": "EUR",
        "amount": 1000,
        "reference": reference,
        "source": {"type": "card", "scheme": "Visa", "last4": "4242", "bin": "424242"},
    }


def _quarantine(engine: sa.Engine, obj: dict[str, Any]) -> None:
    """As ingestion isolates a payment whose actions it could not read (payments._land_payments)."""
    tally = q.QuarantineTally()
    quarantine = q.Quarantine(
        engine, tally, sources=[q.SOURCE_PAYMENTS], max_attempts=5, max_new=10, run_id="r"
    )
    with engine.begin() as conn:
        quarantine.isolate_object(conn, q.SOURCE_PAYMENTS, obj, q.UnreadableItemError("actions: 404"))
    assert tally.new


def test_versions_of_quarantined_payments_are_not_staged(migrated_warehouse_url, capsys) -> None:
    engine = migrated(migrated_warehouse_url)
    with engine.begin() as conn:  # landed as ingestion lands a search page
        stage_payments(
            conn,
            [_payment("pay_landed", "Authorized", "FP-1")],
            {},
            source=q.SOURCE_PAYMENTS,
            run_id="r",
            result=StepResult("payments"),
        )
    _quarantine(engine, _payment("pay_landed", "Captured", "FP-1"))  # a later version, unread
    _quarantine(engine, _payment("pay_never", "Captured", "FP-2"))  # never read at all
    before = table_rows(engine, "stg_payments")
    assert [r[0] for r in before] == ["pay_landed"]

    status, out = cfp(
        capsys, "rebuild", "staging", *WHOLE, "--tables", "stg_payments", "--url", migrated_warehouse_url,
        "--json",
    )  # fmt: skip
    assert status == 0
    (res,) = out["tables"]
    assert res["quarantined"] == 2
    assert (res["same"], res["changed"], res["added"], res["removed"]) == (1, 0, 0, 0)
    assert table_rows(engine, "stg_payments") == before
    with engine.connect() as conn:
        staged = conn.execute(sa.select(schema.stg_payments.c.status)).scalars().all()
    assert staged == ["Authorized"]
