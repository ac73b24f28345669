"""Reads and writes of ``sync_payment_link_intents``: the outbox of payment links.

Every state change is one small UPDATE guarded by the state it expects (compare-and-set), run in
its own committed transaction by the caller, so what the database says is always what has
already happened outside: an intent is ``creating`` *before* its POST leaves, ``created`` only
once the link id is stored. See docs/payment-requests.md for the state machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from checkout_freshportal.sync.intents.guarded import guarded_update
from checkout_freshportal.sync.payment_links.body import IntentKey
from checkout_freshportal.warehouse import locks, schema

T = schema.sync_payment_link_intents
O = schema.stg_orders  # noqa: E741  (the orders table, next to T for intents)

PENDING = "pending"
CREATING = "creating"
CREATED = "created"
FAILED = "failed"
SUPERSEDED = "superseded"
STATES = (PENDING, CREATING, CREATED, FAILED, SUPERSEDED)

#: Checkout.com link statuses (docs/checkout-com.md#payment-links).
LINK_ACTIVE = "Active"
LINK_PAID = "Payment Received"
LINK_EXPIRED = "Expired"

MAX_ERROR_CHARS = 500
#: Namespace of the per-order advisory locks (PostgreSQL), any constant 32-bit value.


@dataclass(frozen=True)
class Intent:
    intent_id: str
    order_id: str
    order_version: str
    fp_version: int | None
    renewal_no: int
    reference: str
    currency: str
    amount_minor: int
    expires_in: int
    idempotency_key: str
    state: str
    superseded_by: str | None
    superseded_reason: str | None
    link_id: str | None
    link_url: str | None
    expires_on: datetime | None
    link_status: str | None
    link_checked_at: datetime | None
    payment_id: str | None
    created_at: datetime
    attempted_at: datetime | None
    attempts: int
    link_created_at: datetime | None
    last_error: str | None
    writeback_status: str | None
    written_back_status: str | None
    written_back_at: datetime | None
    writeback_attempts: int
    updated_at: datetime
    run_id: str | None

    @classmethod
    def from_row(cls, row: Any) -> Intent:
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls)})


def _one(conn: Connection, where: sa.ColumnElement[bool]) -> Intent | None:
    row = conn.execute(sa.select(T).where(where)).first()
    return Intent.from_row(row) if row is not None else None


def lock_order(conn: Connection, order_id: str) -> None:
    """Serialise intent writes for one order until the transaction ends.

    Two runners deciding "this order has no current intent" at once would both insert; with
    two unique indexes involved, PostgreSQL's ``ON CONFLICT DO NOTHING`` does not absorb every
    such race. A transaction-scoped advisory lock per order does; SQLite's single writer lock
    (taken here too) already serialises everything.
    """
    locks.xact_lock(conn, locks.PAYMENT_LINK_ORDER, order_id)


def get_intent(conn: Connection, intent_id: str) -> Intent | None:
    return _one(conn, T.c.intent_id == intent_id)


def current_intent(conn: Connection, order_id: str) -> Intent | None:
    """The order's one intent that is not superseded (a partial unique index guarantees one)."""
    return _one(conn, sa.and_(T.c.order_id == order_id, T.c.state != SUPERSEDED))


def intents_of_order(conn: Connection, order_id: str) -> list[Intent]:
    rows = conn.execute(sa.select(T).where(T.c.order_id == order_id).order_by(T.c.created_at, T.c.intent_id))
    return [Intent.from_row(r) for r in rows]


def version_taken(conn: Connection, order_id: str, order_version: str) -> bool:
    q = sa.select(T.c.intent_id).where(T.c.order_id == order_id, T.c.order_version == order_version)
    return conn.execute(q).first() is not None


def insert_intent(
    conn: Connection,
    key: IntentKey,
    *,
    reference: str,
    currency: str,
    amount_minor: int,
    renewal_no: int,
    expires_in: int,
    fp_version: int | None,
    now: datetime,
    run_id: str | None,
) -> Intent | None:
    """Write the intent row (pending) and return the stored row for (order, version).

    Any unique conflict makes the insert a no-op (``ON CONFLICT DO NOTHING`` without a target):
    a concurrent runner that wrote the same key first wins and its row is returned; one that
    wrote a *different* current intent for the order wins too, and None is returned.
    """
    values = {
        "intent_id": key.intent_id,
        "order_id": key.order_id,
        "order_version": key.order_version,
        "fp_version": fp_version,
        "renewal_no": renewal_no,
        "reference": reference,
        "currency": currency,
        "amount_minor": amount_minor,
        "expires_in": expires_in,
        "idempotency_key": key.idempotency_key,
        "state": PENDING,
        "created_at": now,
        "attempts": 0,
        "writeback_attempts": 0,
        "updated_at": now,
        "run_id": run_id,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(T)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["order_id", "order_version"])
    )
    stored = _one(conn, sa.and_(T.c.order_id == key.order_id, T.c.order_version == key.order_version))
    assert stored is not None
    return stored


def _update(
    conn: Connection, intent_id: str, where: Iterable[sa.ColumnElement[bool]] = (), **values: Any
) -> bool:
    return guarded_update(conn, T, T.c.intent_id == intent_id, where, **values)


def supersede(conn: Connection, intent: Intent, *, by: str | None, reason: str, now: datetime) -> bool:
    """Retire ``intent`` (it stays for the audit trail; its link, if any, stays recorded)."""
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == intent.state, T.c.attempts == intent.attempts],
        state=SUPERSEDED,
        superseded_by=by,
        superseded_reason=reason,
        updated_at=now,
    )


def claim_for_post(
    conn: Connection, intent: Intent, *, now: datetime, fp_version: int | None, run_id: str | None
) -> bool:
    """``creating`` + attempt counted, committed by the caller BEFORE the POST is sent.

    Compare-and-set on (state, attempts): of two runners holding the same snapshot, one wins.
    """
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == intent.state, T.c.attempts == intent.attempts],
        state=CREATING,
        attempts=intent.attempts + 1,
        attempted_at=now,
        fp_version=fp_version,
        last_error=None,
        updated_at=now,
        run_id=run_id,
    )


def record_created(
    conn: Connection,
    intent_id: str,
    *,
    link_id: str,
    link_url: str | None,
    expires_on: datetime | None,
    writeback_status: str,
    now: datetime,
) -> bool:
    return _update(
        conn,
        intent_id,
        [T.c.state == CREATING],
        state=CREATED,
        link_id=link_id,
        link_url=link_url,
        expires_on=expires_on,
        link_status=LINK_ACTIVE,
        link_checked_at=now,
        link_created_at=now,
        last_error=None,
        writeback_status=writeback_status,
        updated_at=now,
    )


def record_failed(
    conn: Connection, intent_id: str, error: str, *, now: datetime, fp_version: int | None = None
) -> bool:
    """Refused (4xx or invalid data): no link exists. Retried when the order changes."""
    values: dict[str, Any] = {"state": FAILED, "last_error": error[:MAX_ERROR_CHARS], "updated_at": now}
    if fp_version is not None:
        values["fp_version"] = fp_version
    return _update(conn, intent_id, [T.c.state.in_((PENDING, CREATING))], **values)


def release(conn: Connection, intent_id: str, error: str, *, now: datetime) -> bool:
    """Back to ``pending``: the request provably did not reach Checkout.com (429, connect error)."""
    return _update(
        conn,
        intent_id,
        [T.c.state == CREATING],
        state=PENDING,
        last_error=error[:MAX_ERROR_CHARS],
        updated_at=now,
    )


def reopen(conn: Connection, intent: Intent, *, now: datetime) -> bool:
    """A failed intent goes back to ``pending`` (its order changed; a 4xx created nothing)."""
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == FAILED, T.c.attempts == intent.attempts],
        state=PENDING,
        updated_at=now,
    )


def record_in_doubt(conn: Connection, intent_id: str, error: str, *, now: datetime) -> bool:
    """The POST may have created a link whose id we do not know: stays ``creating``."""
    return _update(
        conn, intent_id, [T.c.state == CREATING], last_error=error[:MAX_ERROR_CHARS], updated_at=now
    )


def record_link_status(
    conn: Connection,
    intent_id: str,
    *,
    status: str,
    payment_id: str | None,
    now: datetime,
) -> bool:
    values: dict[str, Any] = {"link_status": status, "link_checked_at": now, "updated_at": now}
    if payment_id:
        values["payment_id"] = payment_id
    return _update(conn, intent_id, **values)


def record_paid_in_doubt(conn: Connection, intent: Intent, *, payment_id: str, now: datetime) -> bool:
    """An in-doubt intent whose link (id unknown) was paid: the order is served, nothing to renew."""
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == CREATING, T.c.attempts == intent.attempts],
        state=CREATED,
        link_status=LINK_PAID,
        payment_id=payment_id,
        link_checked_at=now,
        last_error="in_doubt: link id unknown; paid by " + payment_id,
        updated_at=now,
    )


def set_writeback_status(
    conn: Connection, intent_id: str, status: str | None, *, now: datetime, note: str | None = None
) -> bool:
    values: dict[str, Any] = {"writeback_status": status, "updated_at": now}
    if note is not None:
        values["last_error"] = note[:MAX_ERROR_CHARS]
    return _update(conn, intent_id, **values)


def record_written_back(conn: Connection, intent_id: str, status: str, *, now: datetime) -> bool:
    return _update(
        conn,
        intent_id,
        written_back_status=status,
        written_back_at=now,
        writeback_attempts=T.c.writeback_attempts + 1,
        updated_at=now,
    )


def count_writeback_attempt(conn: Connection, intent_id: str, error: str, *, now: datetime) -> bool:
    return _update(
        conn,
        intent_id,
        writeback_attempts=T.c.writeback_attempts + 1,
        last_error=error[:MAX_ERROR_CHARS],
        updated_at=now,
    )


# ------------------------------------------------------------------------------ work lists


def link_candidates(
    conn: Connection,
    *,
    confirmed_statuses: Sequence[str],
    settled_statuses: Sequence[str],
    confirmed_after: datetime | None,
    now: datetime,
    limit: int,
) -> list[str]:
    """Order ids that may need a link action this run, decided from the warehouse alone.

    * confirmed orders, positive amount, not paid, with no current intent or one at another
      price (unless that one was paid);
    * current intents still ``pending`` or ``creating`` (resume / in-doubt handling);
    * created links that are past ``expires_on`` and not known to be paid (renewal check);
    * failed intents whose order changed since (someone fixed it in FreshPortal).
    """
    cur = sa.select(T).where(T.c.state != SUPERSEDED).subquery("cur")
    eligible = [
        O.c.status.in_(list(confirmed_statuses)),
        O.c.amount_minor > 0,
        sa.or_(O.c.payment_status.is_(None), O.c.payment_status.not_in(list(settled_statuses))),
    ]
    if confirmed_after is not None:
        eligible.append(O.c.confirmed_at >= confirmed_after)
    new_or_changed = (
        sa.select(O.c.order_id.label("order_id"))
        .select_from(O.outerjoin(cur, cur.c.order_id == O.c.order_id))
        .where(
            *eligible,
            sa.or_(
                cur.c.intent_id.is_(None),
                sa.and_(
                    sa.or_(cur.c.amount_minor != O.c.amount_minor, cur.c.currency != O.c.currency),
                    sa.or_(cur.c.link_status.is_(None), cur.c.link_status != LINK_PAID),
                ),
            ),
        )
    )
    unfinished = sa.select(cur.c.order_id).where(cur.c.state.in_((PENDING, CREATING)))
    expired = sa.select(cur.c.order_id).where(
        cur.c.state == CREATED,
        sa.or_(cur.c.link_status.is_(None), cur.c.link_status == LINK_ACTIVE),
        cur.c.expires_on <= now,
    )
    failed_changed = (
        sa.select(cur.c.order_id)
        .select_from(cur.join(O, O.c.order_id == cur.c.order_id))
        .where(cur.c.state == FAILED, O.c.fp_version > sa.func.coalesce(cur.c.fp_version, -1))
    )
    union = sa.union(new_or_changed, unfinished, expired, failed_changed).subquery("todo")
    rows = conn.execute(sa.select(union.c.order_id).order_by(union.c.order_id).limit(limit))
    return [r[0] for r in rows]


def writeback_candidates(conn: Connection, *, limit: int) -> list[Intent]:
    """Current intents whose FreshPortal write-back is due (never done, or a new status)."""
    q = (
        sa.select(T)
        .where(
            T.c.state == CREATED,
            T.c.writeback_status.is_not(None),
            sa.or_(T.c.written_back_status.is_(None), T.c.written_back_status != T.c.writeback_status),
        )
        .order_by(T.c.link_created_at, T.c.intent_id)
        .limit(limit)
    )
    return [Intent.from_row(r) for r in conn.execute(q)]


def summary(conn: Connection) -> dict[str, int]:
    """Intents by state (and in-doubt / unwritten counts), for run results and the runbook."""
    out = {s: 0 for s in STATES}
    for state, n in conn.execute(sa.select(T.c.state, sa.func.count()).group_by(T.c.state)):
        out[state] = int(n)
    out["awaiting_writeback"] = int(
        conn.execute(
            sa.select(sa.func.count()).where(
                T.c.state == CREATED,
                T.c.writeback_status.is_not(None),
                sa.or_(T.c.written_back_status.is_(None), T.c.written_back_status != T.c.writeback_status),
            )
        ).scalar_one()
    )
    return out
