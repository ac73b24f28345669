"""The SQL of applying events: every read and write of the ``checkout_events`` use case.

``service.py`` decides (which payments changed, which version, what FreshPortal should show);
this module only moves rows, so the use case reads as the data flow and the statements can be
reviewed in one place. Functions taking a ``Connection`` run inside the caller's transaction;
the caller takes :func:`lock` first where it writes status or outbox rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.sync.status.declines import DeclineRecord
from checkout_freshportal.warehouse import locks, schema
from checkout_freshportal.warehouse.upsert import upsert

#: Ids per ``IN (...)`` list: well under the bind-parameter limits of SQLite and PostgreSQL.
CHUNK = 500
#: Longest error text stored on an event row (a reason, never a body).
ERROR_CHARS = 500


def lock(conn: Connection) -> None:
    """Serialise the writers of status and outbox (apply and push of any run)."""
    locks.xact_lock(conn, locks.PAYMENT_STATUS)


# ============================================================================ raw events


def read_batch(engine: Engine, limit: int, cursor: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    """Unprocessed, non-poison events after ``cursor`` (each event is visited once per run)."""
    t = schema.raw_webhook_events
    cond: list[sa.ColumnElement[bool]] = [t.c.processed_at.is_(None), t.c.is_poison.is_(False)]
    if cursor is not None:
        at, event_id = cursor
        cond.append(sa.or_(t.c.received_at > at, sa.and_(t.c.received_at == at, t.c.event_id > event_id)))
    stmt = (
        sa.select(
            t.c.event_id,
            t.c.event_type,
            t.c.occurred_at,
            t.c.received_at,
            t.c.body,
            t.c.process_attempts,
        )
        .where(*cond)
        .order_by(t.c.received_at, t.c.event_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def mark_processed(conn: Connection, event_ids: Sequence[str], ts: datetime) -> None:
    """Applied (or ignored): never read again; a crash before the commit leaves them unmarked."""
    _count_attempt(conn, event_ids, processed_at=ts, last_error=None)


def mark_deferred(conn: Connection, event_ids: Sequence[str], reason: str) -> None:
    """Kept for the next run (the API was down); the attempt counter bounds the deferrals."""
    _count_attempt(conn, event_ids, last_error=reason[:ERROR_CHARS])


def _count_attempt(conn: Connection, event_ids: Sequence[str], **values: Any) -> None:
    """One more attempt on each still-unprocessed event, with ``values``; in chunks, because
    SQLite caps the bound parameters of one statement."""
    t = schema.raw_webhook_events
    ids = list(event_ids)
    for start in range(0, len(ids), CHUNK):
        conn.execute(
            t.update()
            .where(t.c.event_id.in_(ids[start : start + CHUNK]), t.c.processed_at.is_(None))
            .values(process_attempts=t.c.process_attempts + 1, **values)
        )


def make_poison(conn: Connection, poison: Sequence[tuple[str, str]]) -> None:
    """Bodies that do not parse here although the sidecar stored them as valid: set aside."""
    t = schema.raw_webhook_events
    for event_id, reason in poison:
        conn.execute(
            t.update()
            .where(t.c.event_id == event_id, t.c.processed_at.is_(None))
            .values(
                is_poison=True,
                poison_reason=reason[:ERROR_CHARS],
                process_attempts=t.c.process_attempts + 1,
                last_error=reason[:ERROR_CHARS],
            )
        )


def waiting_poison(engine: Engine, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many poison events wait for an operator, and the oldest ``limit`` of them."""
    t = schema.raw_webhook_events
    waiting = sa.and_(t.c.is_poison.is_(True), t.c.processed_at.is_(None))
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(t).where(waiting)).scalar()
        rows = conn.execute(
            sa.select(t.c.event_id, t.c.received_at, t.c.poison_reason)
            .where(waiting)
            .order_by(t.c.received_at)
            .limit(limit)
        ).all()
    return int(count or 0), [dict(r._mapping) for r in rows]


# ============================================================================ payment status


def status_rows(conn: Connection, payment_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The stored ``stg_payment_status`` rows of these payments."""
    t = schema.stg_payment_status
    out: list[dict[str, Any]] = []
    ids = list(payment_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        out += [dict(r._mapping) for r in conn.execute(sa.select(t).where(t.c.payment_id.in_(chunk)))]
    return out


def upsert_status(conn: Connection, rows: Sequence[Mapping[str, Any]], ts: datetime) -> None:
    if rows:
        upsert(conn, schema.stg_payment_status, list(rows), ["payment_id"], now=ts)


def order_of_reference(conn: Connection, reference: str) -> str | None:
    """The staged order whose order number is a payment's reference (the lowest id if several)."""
    t = schema.stg_orders
    found = conn.execute(sa.select(sa.func.min(t.c.order_id)).where(t.c.order_number == reference)).scalar()
    return str(found) if found is not None else None


def resolve_late_orders(conn: Connection, ts: datetime) -> list[tuple[str, str]]:
    """Give payments without an order the order staged since: ``(payment_id, order_id)`` pairs.

    One join on an indexed column, so it can run at the end of every run.
    """
    ps, orders = schema.stg_payment_status, schema.stg_orders
    found = conn.execute(
        sa.select(ps.c.payment_id, sa.func.min(orders.c.order_id))
        .join(orders, orders.c.order_number == ps.c.reference)
        .where(ps.c.order_id.is_(None))
        .group_by(ps.c.payment_id)
    ).all()
    out = [(str(payment_id), str(order_id)) for payment_id, order_id in found]
    for payment_id, order_id in out:
        conn.execute(
            ps.update().where(ps.c.payment_id == payment_id).values(order_id=order_id, updated_at=ts)
        )
    return out


def count_unresolved(conn: Connection) -> int:
    """Payments whose order is not staged yet (their outbox rows wait)."""
    ps = schema.stg_payment_status
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(ps).where(ps.c.order_id.is_(None))).scalar() or 0
    )


# ============================================================================ declines log


def log_declines(conn: Connection, declines: Iterable[DeclineRecord], ts: datetime) -> int:
    """Upsert declines-log rows by ``decline_id``; returns how many were new."""
    rows = [
        {
            "decline_id": d.decline_id,
            "payment_id": d.payment_id,
            "kind": d.kind,
            "event_id": d.event_id,
            "action_id": d.action_id,
            "response_code": d.response_code,
            "response_summary": d.response_summary,
            "amount_minor": d.amount_minor,
            "currency": d.currency,
            "occurred_at": d.occurred_at,
            "source": d.source,
        }
        for d in declines
    ]
    if not rows:
        return 0
    return upsert(conn, schema.ops_payment_declines, rows, ["decline_id"], now=ts).inserted


# ============================================================================ outbox


def payments_of_order(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """Every stored status row of one order's payments."""
    ps = schema.stg_payment_status
    return [dict(r._mapping) for r in conn.execute(sa.select(ps).where(ps.c.order_id == order_id))]


def last_outbox(conn: Connection, order_id: str) -> tuple[int, Mapping[str, Any] | None] | None:
    """``(version, payload)`` of the order's newest outbox row, or None when it has none."""
    ob = schema.sync_status_outbox
    row = conn.execute(
        sa.select(ob.c.version, ob.c.payload)
        .where(ob.c.order_id == order_id)
        .order_by(ob.c.version.desc())
        .limit(1)
    ).first()
    return (int(row.version), row.payload) if row is not None else None


def freshportal_sequence(conn: Connection, order_id: str) -> int:
    """The payment ``sequence`` FreshPortal last reported holding for the order (0 if none)."""
    orders = schema.stg_orders
    seq = conn.execute(sa.select(orders.c.payment_sequence).where(orders.c.order_id == order_id)).scalar()
    return int(seq or 0)


def add_outbox(
    conn: Connection,
    *,
    order_id: str,
    version: int,
    payment_id: str,
    checkout_status: str | None,
    payload: Mapping[str, Any],
    run_id: str | None,
    now: datetime,
) -> None:
    """Queue one write of the order's payment status for ``status_push``."""
    conn.execute(
        schema.sync_status_outbox.insert().values(
            order_id=order_id,
            version=version,
            payment_id=payment_id,
            freshportal_status=payload["status"],
            checkout_status=checkout_status,
            payload=dict(payload),
            created_at=now,
            attempts=0,
            run_id=run_id,
        )
    )
