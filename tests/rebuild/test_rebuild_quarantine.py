"""``cfp rebuild staging`` and the quarantine, on SQLite and PostgreSQL.

Ingestion keeps an unreadable payment raw (``raw_api_objects``) and quarantines it without staging
it: its actions could not be read, or the database refused a value. A payload that maps is not
proof that ingestion staged it, so the rebuild must leave out the versions stored while their item
was (and still is) quarantined, or it would stage what ingestion never did.
"""

from __future__ import annotations

from datetime import timedelta
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


def _quarantine(engine: sa.Engine, obj: dict[str, Any], *, retry: bool = False) -> None:
    """As ingestion isolates a payment whose actions it could not read (payments._land_payments),
    or, with ``retry``, as a later run's retry reads it again and fails again (Quarantine.retry)."""
    tally = q.QuarantineTally()
    quarantine = q.Quarantine(
        engine, tally, sources=[q.SOURCE_PAYMENTS], max_attempts=5, max_new=10, run_id="r"
    )
    exc = q.UnreadableItemError("actions: 404")
    with engine.begin() as conn:
        if retry:
            raw = q.keep_api_object(conn, q.SOURCE_PAYMENTS, obj, obj["id"], run_id="r")
            quarantine.isolate(conn, q.SOURCE_PAYMENTS, obj["id"], exc, raw, retry=True)
        else:
            quarantine.isolate_object(conn, q.SOURCE_PAYMENTS, obj, exc)
    assert tally.new or tally.failed_again


def test_versions_of_quarantined_payments_are_not_staged(migrated_warehouse_url, capsys) -> None:
    engine = migrated(migrated_warehouse_url)
    landed = [_payment("pay_landed", "Authorized", "FP-1"), _payment("pay_same", "Authorized", "FP-3")]
    with engine.begin() as conn:  # landed as ingestion lands a search page
        stage_payments(conn, landed, {}, source=q.SOURCE_PAYMENTS, run_id="r", result=StepResult("payments"))
    raw = schema.raw_api_objects
    with engine.begin() as conn:  # they landed an hour before the reads below
        for oid, digest, at in conn.execute(
            sa.select(raw.c.object_id, raw.c.payload_sha256, raw.c.fetched_at)
        ).all():
            key = (raw.c.object_id == oid) & (raw.c.payload_sha256 == digest)
            conn.execute(raw.update().where(key).values(fetched_at=at - timedelta(hours=1)))
    _quarantine(engine, _payment("pay_landed", "Captured", "FP-1"))  # a later version, unread
    # the content that landed before, unreadable this time: the raw layer adds nothing, and the
    # staged row it gave stays
    _quarantine(engine, _payment("pay_same", "Authorized", "FP-3"))
    _quarantine(engine, _payment("pay_never", "Authorized", "FP-2"))  # never read at all ...
    _quarantine(engine, _payment("pay_never", "Captured", "FP-2"), retry=True)  # ... nor since
    before = table_rows(engine, "stg_payments")
    assert [r[0] for r in before] == ["pay_landed", "pay_same"]

    status, out = cfp(
        capsys, "rebuild", "staging", *WHOLE, "--tables", "stg_payments", "--url", migrated_warehouse_url,
        "--json",
    )  # fmt: skip
    assert status == 0
    (res,) = out["tables"]
    assert res["quarantined"] == 3
    assert (res["same"], res["changed"], res["added"], res["removed"]) == (2, 0, 0, 0)
    assert table_rows(engine, "stg_payments") == before
    with engine.connect() as conn:
        staged = conn.execute(sa.select(schema.stg_payments.c.status)).scalars().all()
    assert staged == ["Authorized", "Authorized"]
