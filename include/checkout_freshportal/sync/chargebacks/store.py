"""The SQL of chargebacks: ``stg_disputes`` rows read and merged, disputes due for a note.

Functions taking a ``Connection`` run inside the caller's transaction (the events run's, which
holds the status lock, so two runs never merge the same dispute at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.checkout.statuses import DisputeStatus
from checkout_freshportal.sync.chargebacks.disputes import fill, merge_all
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.upsert import upsert

#: Ids per ``IN (...)`` list (well under SQLite's bind-parameter limit).
CHUNK = 500
_BOOKKEEPING = frozenset({"first_seen_at", "updated_at"})


def disputes_by_id(conn: Connection, dispute_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The staged rows of these disputes, without bookkeeping, by dispute id."""
    t = schema.stg_disputes
    cols = [c for c in t.c if c.name not in _BOOKKEEPING]
    ids = sorted(set(dispute_ids))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), CHUNK):
        stmt = sa.select(*cols).where(t.c.dispute_id.in_(ids[start : start + CHUNK]))
        out.update({r.dispute_id: dict(r._mapping) for r in conn.execute(stmt)})
    return out


def dispute(conn: Connection, dispute_id: str) -> dict[str, Any] | None:
    return disputes_by_id(conn, [dispute_id]).get(dispute_id)


def pending_rows(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the webhook rows would make of the stored disputes (read before the detail fetch)."""
    if not rows:
        return []
    with engine.connect() as conn:
        stored = disputes_by_id(conn, [r["dispute_id"] for r in rows])
    return list(merge_all(stored, rows).values())


def upsert_disputes(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    details: Mapping[str, Mapping[str, Any]],
    ts: datetime,
) -> int:
    """Fold webhook rows and fetched details into ``stg_disputes``; returns how many rows changed.

    Runs under the status lock, re-reading the stored rows, so a sweep that landed since the
    detail fetch is merged, not overwritten.
    """
    if not rows:
        return 0
    stored = disputes_by_id(conn, [r["dispute_id"] for r in rows])
    merged = merge_all(stored, rows)
    for did, detail in details.items():
        if did in merged:
            merged[did] = fill(merged[did], detail)
    columns = [c.name for c in schema.stg_disputes.c if c.name not in _BOOKKEEPING]
    out = [{c: row.get(c) for c in columns} for row in merged.values()]
    result = upsert(conn, schema.stg_disputes, out, ["dispute_id"], now=ts)
    return result.inserted + result.updated


def due_for_note(engine: Engine, now: datetime, until: datetime) -> list[dict[str, Any]]:
    """Disputes still waiting for evidence, due in ``[now, until]``, on a payment with an order."""
    d, ps = schema.stg_disputes, schema.stg_payment_status
    stmt = (
        sa.select(
            d.c.dispute_id,
            d.c.payment_id,
            d.c.category,
            d.c.reason_code,
            d.c.amount_minor,
            d.c.currency,
            d.c.evidence_required_by,
            ps.c.order_id,
        )
        .join(ps, ps.c.payment_id == d.c.payment_id)
        .where(
            d.c.status == DisputeStatus.EVIDENCE_REQUIRED,
            d.c.evidence_required_by.is_not(None),
            d.c.evidence_required_by >= now,
            d.c.evidence_required_by <= until,
            ps.c.order_id.is_not(None),
        )
        .order_by(d.c.evidence_required_by, d.c.dispute_id)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
