"""What the events run does for chargebacks, called from ``sync/events/service.py``.

Before the transaction: the detail fetch (:func:`fetch_for`). Inside it, under the status lock:
the dispute rows into ``stg_disputes`` and the orders whose signal may have moved
(:func:`stage`); ``refresh_outbox`` then queues a version only where the signal changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.sync.chargebacks import store
from checkout_freshportal.sync.chargebacks.disputes import fetch_details
from checkout_freshportal.warehouse import schema


def fetch_for(
    reader: object | None, engine: Engine, rows: Sequence[Mapping[str, Any]], fetched: set[str]
) -> dict[str, dict[str, Any]]:
    """Details of the disputes the webhook rows (merged with what is stored) leave short."""
    if reader is None or not rows:
        return {}
    return fetch_details(reader, store.pending_rows(engine, rows), fetched)


def stage(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    retrieval_signals: Iterable[Mapping[str, Any]],
    details: Mapping[str, Mapping[str, Any]],
    ts: datetime,
) -> tuple[int, dict[str, Mapping[str, Any]], set[str]]:
    """Stage the dispute rows; returns rows changed, retrieval signals by payment, orders to refresh."""
    ids = {r["dispute_id"] for r in rows}
    changed = store.upsert_disputes(conn, rows, {d: v for d, v in details.items() if d in ids}, ts)
    retrievals: dict[str, Mapping[str, Any]] = {}
    for signal in sorted(retrieval_signals, key=lambda s: (s["updated_at"], s["dispute_id"])):
        retrievals[signal["payment_id"]] = signal  # the latest request of a payment
    payments = {r["payment_id"] for r in rows if r["payment_id"] is not None} | set(retrievals)
    return changed, retrievals, orders_of(conn, payments)


def orders_of(conn: Connection, payment_ids: Iterable[str]) -> set[str]:
    """The resolved FreshPortal orders of these payments."""
    ps = schema.stg_payment_status
    ids = sorted(set(payment_ids))
    out: set[str] = set()
    for start in range(0, len(ids), store.CHUNK):
        stmt = sa.select(ps.c.order_id).where(
            ps.c.payment_id.in_(ids[start : start + store.CHUNK]), ps.c.order_id.is_not(None)
        )
        out.update(str(o) for (o,) in conn.execute(stmt))
    return out
