"""Reads and writes of ``sync_money_intents``: the outbox of refunds, voids and captures.

Every state change is one compare-and-set UPDATE (:func:`.guarded.guarded_update`) committed by
the caller before the next outside call, so the row always says what has already happened at
Checkout.com: ``sending`` is committed *before* the POST leaves, the action id the moment the
202 arrives. docs/refunds.md "Exactly once" has the state machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from checkout_freshportal.sync.intents.guarded import guarded_update
from checkout_freshportal.warehouse import schema

T = schema.sync_money_intents

# Kinds of money movement.
REFUND = "refund"
VOID = "void"
CAPTURE = "capture"
KINDS = (REFUND, VOID, CAPTURE)

# States (docs/refunds.md#exactly-once).
PENDING = "pending"  # written; nothing sent yet (or provably not processed)
SENDING = "sending"  # claimed; the POST may be on its way: from here on, never a blind new request
# (a failed POST other than a 4xx refusal leaves it here, "in doubt", until its action is found)
ACCEPTED = "accepted"  # 202 recorded with its action id; the outcome comes later
SUCCEEDED = "succeeded"
DECLINED = "declined"  # Checkout.com processed and declined it (response code and summary kept)
REJECTED = "rejected"  # our validation said no: nothing was sent
FAILED = "failed"  # Checkout.com refused the request (4xx): nothing exists
CANCELLED = "cancelled"  # FreshPortal withdrew the request before anything was sent
STATES = (PENDING, SENDING, ACCEPTED, SUCCEEDED, DECLINED, REJECTED, FAILED, CANCELLED)
FINAL_STATES = (SUCCEEDED, DECLINED, REJECTED, FAILED, CANCELLED)

# Write-back statuses (ours; FreshPortal's codes come from the tenant mapping).
WB_PROCESSING = "processing"
WB_SUCCEEDED = "succeeded"
WB_FAILED = "failed"

MAX_TEXT = 500


@dataclass(frozen=True)
class MoneyIntent:
    intent_id: str
    kind: str
    request_key: str
    order_id: str
    order_number: str | None
    payment_id: str | None
    currency: str
    amount_minor: int
    final: bool | None
    idempotency_key: str
    state: str
    reason_code: str | None
    reason_text: str | None
    action_id: str | None
    response_code: str | None
    response_summary: str | None
    outcome_amount_minor: int | None
    outcome_at: datetime | None
    outcome_source: str | None
    fp_version: int | None
    requested_at: datetime | None
    created_at: datetime
    attempts: int
    first_attempted_at: datetime | None
    attempted_at: datetime | None
    accepted_at: datetime | None
    last_error: str | None
    writeback_status: str | None
    written_back_status: str | None
    written_back_at: datetime | None
    writeback_attempts: int
    updated_at: datetime
    run_id: str | None
    writeback_claimed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> MoneyIntent:
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls)})

    @property
    def reference(self) -> str:
        """Sent to Checkout.com as the action's ``reference`` (<= 50 chars): how a lost 202 is
        found again in the payment's actions."""
        return self.intent_id


def intent_id_for(request_key: str) -> str:
    digest = hashlib.sha256(f"freshportal-money|{request_key}".encode()).hexdigest()
    return f"mi_{digest[:24]}"


def idempotency_key_for(request_key: str) -> str:
    """``cfp-mi-<sha256(request key)[:40]>``: one key per request for the intent's whole life,
    so every resend within Checkout.com's window (24 h) replays the first answer."""
    return "cfp-mi-" + hashlib.sha256(f"idempotency|{request_key}".encode()).hexdigest()[:40]


def _one(conn: Connection, where: sa.ColumnElement[bool]) -> MoneyIntent | None:
    row = conn.execute(sa.select(T).where(where)).first()
    return MoneyIntent.from_row(row) if row is not None else None


def get(conn: Connection, intent_id: str) -> MoneyIntent | None:
    return _one(conn, T.c.intent_id == intent_id)


def by_request(conn: Connection, request_key: str) -> MoneyIntent | None:
    return _one(conn, T.c.request_key == request_key)


def of_order(conn: Connection, order_id: str) -> list[MoneyIntent]:
    q = sa.select(T).where(T.c.order_id == order_id).order_by(T.c.created_at, T.c.intent_id)
    return [MoneyIntent.from_row(r) for r in conn.execute(q)]


def insert(
    conn: Connection,
    *,
    kind: str,
    request_key: str,
    order_id: str,
    order_number: str | None,
    currency: str,
    amount_minor: int,
    final: bool | None = None,
    fp_version: int | None = None,
    requested_at: datetime | None = None,
    now: datetime,
    run_id: str | None,
) -> tuple[MoneyIntent, bool]:
    """Write the intent (``pending``) unless its request has one; (the stored row, inserted?).

    ``ON CONFLICT DO NOTHING``: of two runners reading the same request, one row results.
    """
    assert kind in KINDS, kind
    values = {
        "intent_id": intent_id_for(request_key),
        "kind": kind,
        "request_key": request_key,
        "order_id": order_id,
        "order_number": order_number,
        "currency": currency,
        "amount_minor": amount_minor,
        "final": final,
        "idempotency_key": idempotency_key_for(request_key),
        "state": PENDING,
        "fp_version": fp_version,
        "requested_at": requested_at,
        "created_at": now,
        "attempts": 0,
        "writeback_attempts": 0,
        "updated_at": now,
        "run_id": run_id,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = conn.execute(dialect.insert(T).values(**values).on_conflict_do_nothing())
    stored = by_request(conn, request_key)
    assert stored is not None
    return stored, result.rowcount == 1


def amend_pending(
    conn: Connection,
    intent: MoneyIntent,
    *,
    amount_minor: int,
    currency: str,
    fp_version: int | None,
    requested_at: datetime | None,
    now: datetime,
    final: bool | None = None,
) -> bool:
    """The request changed in FreshPortal before anything was sent: the intent follows it.

    Only a never-attempted ``pending`` intent (its key has never reached Checkout.com, so the
    new amount cannot meet a stored answer for the old one); once sent, the request stands.
    """
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == PENDING, T.c.attempts == 0],
        amount_minor=amount_minor,
        currency=currency,
        fp_version=fp_version,
        requested_at=requested_at,
        updated_at=now,
        **({"final": final} if final is not None else {}),
    )


def _update(
    conn: Connection, intent_id: str, where: Iterable[sa.ColumnElement[bool]] = (), **values: Any
) -> bool:
    return guarded_update(conn, T, T.c.intent_id == intent_id, where, **values)


def _same(intent: MoneyIntent) -> list[sa.ColumnElement[bool]]:
    """The snapshot guard: still in the state, at the attempt, and for the money the caller
    saw. The money matters because the caller builds its POST from its snapshot, while a pull
    beside it may amend a pending intent (:func:`amend_pending`): a claim on the old amount must
    lose, and the next run validates the new one."""
    return [
        T.c.state == intent.state,
        T.c.attempts == intent.attempts,
        T.c.amount_minor == intent.amount_minor,
        T.c.currency == intent.currency,
        T.c.final.is_not_distinct_from(intent.final),
    ]


def claim(
    conn: Connection,
    intent: MoneyIntent,
    *,
    kind: str,
    payment_id: str,
    now: datetime,
    run_id: str | None,
) -> bool:
    """``sending`` + attempt counted, committed BEFORE the POST. Of two runners, one wins."""
    return _update(
        conn,
        intent.intent_id,
        _same(intent),
        state=SENDING,
        kind=kind,
        payment_id=payment_id,
        attempts=intent.attempts + 1,
        first_attempted_at=intent.first_attempted_at or now,
        attempted_at=now,
        updated_at=now,
        run_id=run_id,
    )


def record_accepted(conn: Connection, intent: MoneyIntent, *, action_id: str, now: datetime) -> bool:
    """The 202's action id, committed at once. From a resend or a lookup too (same id)."""
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == SENDING],
        state=ACCEPTED,
        action_id=action_id,
        accepted_at=now,
        last_error=None,
        writeback_status=WB_PROCESSING,
        updated_at=now,
    )


def record_outcome(
    conn: Connection,
    intent_id: str,
    *,
    succeeded: bool,
    amount_minor: int | None,
    processed_at: datetime | None,
    source: str,
    response_code: str | None,
    response_summary: str | None,
    now: datetime,
    action_id: str | None = None,
) -> bool:
    """Succeeded or declined, from the webhook or the payment's actions (whichever comes first);
    ``action_id``: the action's real id, where the 202 named another."""
    return _update(
        conn,
        intent_id,
        [T.c.state == ACCEPTED],
        **({"action_id": action_id} if action_id else {}),
        state=SUCCEEDED if succeeded else DECLINED,
        outcome_amount_minor=amount_minor if succeeded else 0,
        outcome_at=processed_at,
        outcome_source=source,
        response_code=_short(response_code),
        response_summary=_short(response_summary),
        reason_code=None if succeeded else "declined",
        reason_text=None if succeeded else "Checkout.com declined the request",
        writeback_status=WB_SUCCEEDED if succeeded else WB_FAILED,
        updated_at=now,
    )


def record_rejected(
    conn: Connection, intent: MoneyIntent, *, code: str, text: str, payment_id: str | None, now: datetime
) -> bool:
    """Our validation said no: nothing was sent. Answered in FreshPortal with ``code``."""
    return _update(
        conn,
        intent.intent_id,
        _same(intent),
        state=REJECTED,
        reason_code=code,
        reason_text=_short(text),
        payment_id=payment_id,
        writeback_status=WB_FAILED,
        updated_at=now,
    )


def record_failed(conn: Connection, intent: MoneyIntent, *, code: str, error: str, now: datetime) -> bool:
    """Checkout.com refused the request with a 4xx: nothing exists, nothing to resend.

    ``intent`` is the claimed snapshot: only the latest attempt may settle the row (an older
    attempt's late answer must not overrule a newer claim that is in flight).
    """
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == SENDING, T.c.attempts == intent.attempts],
        state=FAILED,
        reason_code=code,
        reason_text=_short(error),
        last_error=_short(error),
        writeback_status=WB_FAILED,
        updated_at=now,
    )


def record_in_doubt(conn: Connection, intent: MoneyIntent, error: str, *, now: datetime) -> bool:
    """The POST may have been processed: stays ``sending``; resolved by a lookup, then a resend
    under the same key only if no action was found (:func:`..execute.recover`). Only the latest
    attempt writes: a newer claim may be in flight."""
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == SENDING, T.c.attempts == intent.attempts],
        last_error=_short("in_doubt: " + error),
        updated_at=now,
    )


def cancel(conn: Connection, intent: MoneyIntent, *, reason: str, now: datetime) -> bool:
    """FreshPortal withdrew the request while nothing had been sent (``pending`` only)."""
    return _update(
        conn,
        intent.intent_id,
        [T.c.state == PENDING, T.c.attempts == intent.attempts],
        state=CANCELLED,
        reason_code="request_cancelled",
        reason_text=_short(reason),
        updated_at=now,
    )


def record_written_back(
    conn: Connection, intent_id: str, status: str, *, now: datetime, claimed_at: datetime | None = None
) -> bool:
    """``status`` reached FreshPortal. Guarded: if a newer status became due meanwhile, the row
    stays due and the next write-back sends that one (a stale writer never hides it). With
    ``claimed_at``, the writer's own claim on the note is given back in the same update."""
    return _update(
        conn,
        intent_id,
        [T.c.writeback_status == status],
        written_back_status=status,
        written_back_at=now,
        writeback_attempts=T.c.writeback_attempts + 1,
        writeback_claimed_at=unclaimed(claimed_at),
        updated_at=now,
    )


def count_writeback_attempt(
    conn: Connection, intent_id: str, error: str, *, now: datetime, claimed_at: datetime | None = None
) -> bool:
    return _update(
        conn,
        intent_id,
        writeback_attempts=T.c.writeback_attempts + 1,
        writeback_claimed_at=unclaimed(claimed_at),
        last_error=_short(error),
        updated_at=now,
    )


def give_up_writeback(
    conn: Connection,
    intent_id: str,
    error: str,
    *,
    now: datetime,
    status: str | None = None,
    claimed_at: datetime | None = None,
) -> bool:
    """FreshPortal refused the answer ``status`` (withdrawn, unknown, invalid): stop retrying
    it, keep why. With ``status``, guarded like :func:`record_written_back`: a newer status that
    became due meanwhile is still sent."""
    return _update(
        conn,
        intent_id,
        [T.c.writeback_status == status] if status is not None else [],
        writeback_status=None,
        writeback_attempts=T.c.writeback_attempts + 1,
        writeback_claimed_at=unclaimed(claimed_at),
        last_error=_short("writeback_refused: " + error),
        updated_at=now,
    )


def unclaimed(claimed_at: datetime | None) -> Any:
    """``writeback_claimed_at`` after an update by the writer that claimed it at ``claimed_at``:
    cleared if the claim is still that writer's, left alone if another run took it after it
    lapsed (or when nothing was claimed: ``claimed_at`` None)."""
    col = T.c.writeback_claimed_at
    if claimed_at is None:
        return col
    return sa.case((col == claimed_at, sa.null()), else_=col)


def _short(text: str | None) -> str | None:
    return text[:MAX_TEXT] if text is not None else None


# ------------------------------------------------------------------------------ work lists


def in_states(
    conn: Connection, states: Sequence[str], *, kinds: Sequence[str] = KINDS, limit: int
) -> list[MoneyIntent]:
    q = (
        sa.select(T)
        .where(T.c.state.in_(list(states)), T.c.kind.in_(list(kinds)))
        .order_by(T.c.created_at, T.c.intent_id)
        .limit(limit)
    )
    return [MoneyIntent.from_row(r) for r in conn.execute(q)]


def writeback_due(conn: Connection, *, kinds: Sequence[str] = KINDS, limit: int) -> list[MoneyIntent]:
    """Intents whose FreshPortal answer is due (never written, or a newer status)."""
    q = (
        sa.select(T)
        .where(
            T.c.kind.in_(list(kinds)),
            T.c.writeback_status.is_not(None),
            sa.or_(T.c.written_back_status.is_(None), T.c.written_back_status != T.c.writeback_status),
        )
        .order_by(T.c.updated_at, T.c.intent_id)
        .limit(limit)
    )
    return [MoneyIntent.from_row(r) for r in conn.execute(q)]


def summary(conn: Connection, *, kinds: Sequence[str] = KINDS) -> dict[str, int]:
    """Intents by state, plus how many are in doubt and how many answers are unwritten."""
    out = {s: 0 for s in STATES}
    q = sa.select(T.c.state, sa.func.count()).where(T.c.kind.in_(list(kinds))).group_by(T.c.state)
    for state, n in conn.execute(q):
        out[state] = int(n)
    out["in_doubt"] = int(
        conn.execute(
            sa.select(sa.func.count()).where(
                T.c.kind.in_(list(kinds)), T.c.state == SENDING, T.c.last_error.like("in_doubt:%")
            )
        ).scalar_one()
    )
    out["awaiting_writeback"] = len(writeback_due(conn, kinds=kinds, limit=1_000_000))
    return out


def log_ids(intent: MoneyIntent) -> dict[str, str | None]:
    """The correlation ids of the log lines written while this intent is worked on
    (docs/observability.md): an operator follows one refund request or order across runs."""
    kind, _, ref = intent.request_key.partition(":")
    return {
        "order_number": intent.order_number,
        "payment_id": intent.payment_id,
        "refund_request_id": ref if kind == "refund_request" else None,
    }
