"""Deliver the status outbox to FreshPortal (second task of ``checkout_events``).

``sync_status_outbox`` holds one row per order and version (:mod:`.events` adds a row only when
what FreshPortal should show changed). Delivery rules:

* only the newest waiting version of an order is sent; older waiting versions are marked
  ``superseded`` first -- nothing is gained by writing a status that is already out of date;
* the version travels as FreshPortal's ``sequence``: FreshPortal refuses a lower sequence than
  the one it holds with 409, so an older status can never overwrite a newer one, whatever the
  timing of retries and reruns. A 409 means "a newer status is already there": the row is
  marked ``superseded`` and never retried;
* the write is a PUT (replace), idempotent: a crash between the PUT and recording it makes the
  next run send the same body again, which changes nothing;
* 429/5xx/timeouts (after the client's own retries) count an attempt, record the error and set
  ``next_attempt_at`` with exponential backoff; the run stops pushing at the first such failure
  (FreshPortal is down: the rest waits, nothing is lost) and the next run continues;
* any other 4xx marks the row ``rejected`` with the error, the other orders are still pushed,
  and the run then fails loudly (:class:`StatusPushError`); a 401 fails at once.

The payment-link fields and the payout reference are read at push time (the order's current
link intent, else what FreshPortal last showed), because the PUT replaces the whole payment
sub-resource and must not erase what other writers put there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.errors import PermanentError
from checkout_freshportal.freshportal.chargebacks import Chargeback
from checkout_freshportal.freshportal.errors import (
    AuthenticationError,
    ConflictError,
    FreshPortalError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from checkout_freshportal.freshportal.models import PaymentStatusUpdate
from checkout_freshportal.sync.events.service import LIST_LIMIT
from checkout_freshportal.sync.status_push.settings import PushSettings
from checkout_freshportal.timeutil import parse_ts, utcnow
from checkout_freshportal.warehouse import locks, schema

log = logging.getLogger(__name__)


class StatusWriter(Protocol):
    """The part of ``FreshPortalClient`` the push needs."""

    def write_payment_status(self, order_id: str, update: PaymentStatusUpdate) -> Any: ...


class StatusPushError(PermanentError, RuntimeError):
    """FreshPortal refused some writes (4xx); they are marked ``rejected`` with the reason (permanent)."""


@dataclass
class PushResult:
    orders_waiting: int = 0
    sent: int = 0
    delivered: int = 0
    superseded_older: int = 0  # older waiting versions replaced by a newer one of the same order
    superseded_409: int = 0  # FreshPortal already held a newer sequence
    failed: int = 0  # transient failure, will be retried with backoff
    rejected: int = 0  # a 4xx; not retried
    backing_off: int = 0  # waiting for their next_attempt_at
    stopped_early: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def push_statuses(
    engine: Engine,
    client: StatusWriter,
    settings: PushSettings | None = None,
    *,
    run_id: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> PushResult:
    """Write the newest waiting status of each order to FreshPortal (see the module docstring)."""
    settings = settings or PushSettings()
    result = PushResult()
    due = _due_rows(engine, result, now())
    for row in due[: settings.max_orders]:
        if not _push_one(engine, client, row, settings, result, now, due_count=len(due)):
            break
    log.info(
        "status push: %d delivered, %d superseded by 409, %d older versions skipped, %d failed, "
        "%d rejected, %d backing off",
        result.delivered,
        result.superseded_409,
        result.superseded_older,
        result.failed,
        result.rejected,
        result.backing_off,
    )
    if result.rejected:
        raise StatusPushError(
            f"FreshPortal refused {result.rejected} status write(s); they are marked 'rejected' in "
            f"sync_status_outbox with the reason (first: {result.errors[0] if result.errors else '?'})"
        )
    return result


def _due_rows(engine: Engine, result: PushResult, ts: datetime) -> list[sa.RowMapping]:
    """Retire older versions, then the newest waiting rows whose backoff is over (oldest first).

    Under the status lock, so the events task cannot add a version between the two statements.
    """
    ob = schema.sync_status_outbox
    with engine.begin() as conn:
        _lock(conn)
        result.superseded_older = _supersede_older(conn, ts)
        waiting = conn.execute(
            sa.select(ob).where(ob.c.outcome.is_(None)).order_by(ob.c.created_at, ob.c.order_id)
        ).all()
    result.orders_waiting = len(waiting)
    due = [r._mapping for r in waiting if r.next_attempt_at is None or r.next_attempt_at <= ts]
    result.backing_off = len(waiting) - len(due)
    return due


def _push_one(
    engine: Engine,
    client: StatusWriter,
    row: sa.RowMapping,
    settings: PushSettings,
    result: PushResult,
    now: Callable[[], datetime],
    *,
    due_count: int,
) -> bool:
    """Send one order's newest version and record the outcome; False when the run must stop
    (FreshPortal is unavailable: the rest waits for the next run)."""
    update = _update_for(engine, row)
    result.sent += 1
    try:
        client.write_payment_status(str(row["order_id"]), update)
    except ConflictError as exc:
        result.superseded_409 += 1
        _finish(engine, row, now(), "superseded", f"409 from FreshPortal: it holds a newer sequence ({exc})")
        return True
    except AuthenticationError as exc:
        _record_failure(engine, row, now(), settings, exc, retry=True)
        raise
    except (RateLimitedError, ServerError, TransportError) as exc:
        result.failed += 1
        _record_failure(engine, row, now(), settings, exc, retry=True)
        _note(result, row, exc)
        result.stopped_early = True
        log.warning(
            "FreshPortal write for order %s failed (%s); stopping this run, %d order(s) wait",
            row["order_id"],
            type(exc).__name__,
            due_count - result.sent,
        )
        return False
    except (FreshPortalError, ValueError) as exc:  # 400/403/404/422, or a body we cannot build
        result.rejected += 1
        _record_failure(engine, row, now(), settings, exc, retry=False)
        _note(result, row, exc)
        return True
    result.delivered += 1
    _finish(engine, row, now(), "delivered", None)
    return True


def _lock(conn: Connection) -> None:
    locks.xact_lock(conn, locks.PAYMENT_STATUS)


def _supersede_older(conn: Connection, ts: datetime) -> int:
    """Mark every waiting row that is not its order's newest version as superseded."""
    ob = schema.sync_status_outbox
    newer = ob.alias("newer")
    exists_newer = (
        sa.select(newer.c.version)
        .where(newer.c.order_id == ob.c.order_id, newer.c.version > ob.c.version)
        .exists()
    )
    res = conn.execute(
        ob.update()
        .where(ob.c.outcome.is_(None), exists_newer)
        .values(outcome="superseded", delivered_at=ts, last_error="superseded by a newer version")
    )
    return int(res.rowcount or 0)


def _update_for(engine: Engine, row: sa.RowMapping) -> PaymentStatusUpdate:
    payload = row["payload"]
    kept = _kept_fields(engine, str(row["order_id"]))
    changed_at = payload.get("status_changed_at")
    return PaymentStatusUpdate(
        status=payload["status"],
        currency=payload.get("currency"),
        amount_paid_minor=payload.get("amount_paid_minor"),
        amount_refunded_minor=payload.get("amount_refunded_minor"),
        refund_state=payload.get("refund_state"),
        payment_link_id=kept["payment_link_id"],
        payment_link_url=kept["payment_link_url"],
        payment_id=payload.get("payment_id"),
        payout_reference=kept["payout_reference"],
        status_changed_at=parse_ts(changed_at) if changed_at else None,
        sequence=int(row["version"]),
        chargeback=_chargeback_of(payload.get("chargeback")),
    )


def _chargeback_of(signal: Any) -> Chargeback | None:
    """The outbox's chargeback signal (docs/chargebacks.md) as the client's model; None clears it."""
    if not isinstance(signal, dict):
        return None
    deadline, updated = signal.get("evidence_required_by"), signal.get("updated_at")
    return Chargeback(
        dispute_id=signal["dispute_id"],
        amount_minor=int(signal["amount_minor"]),
        currency=signal["currency"],
        status=signal["status"],
        category=signal.get("category"),
        reason_code=signal.get("reason_code"),
        evidence_required_by=parse_ts(deadline) if deadline else None,
        updated_at=parse_ts(updated) if updated else None,
    )


def _kept_fields(engine: Engine, order_id: str) -> dict[str, str | None]:
    """Fields of the payment sub-resource that other writers own; the PUT must carry them on.

    The link: the order's current intent (sync_payment_link_intents), else what FreshPortal last
    showed (stg_orders). The payout reference: what FreshPortal last showed.
    """
    li, orders = schema.sync_payment_link_intents, schema.stg_orders
    with engine.connect() as conn:
        intent = conn.execute(
            sa.select(li.c.link_id, li.c.link_url)
            .where(li.c.order_id == order_id, li.c.state != "superseded", li.c.link_id.is_not(None))
            .limit(1)
        ).first()
        shown = conn.execute(
            sa.select(orders.c.payment_link_id, orders.c.payment_link_url, orders.c.payout_reference).where(
                orders.c.order_id == order_id
            )
        ).first()
    link_id, link_url = (intent.link_id, intent.link_url) if intent is not None else (None, None)
    if intent is None and shown is not None:
        link_id, link_url = shown.payment_link_id, shown.payment_link_url
    return {
        "payment_link_id": link_id,
        "payment_link_url": link_url,
        "payout_reference": shown.payout_reference if shown is not None else None,
    }


def _finish(engine: Engine, row: sa.RowMapping, ts: datetime, outcome: str, error: str | None) -> None:
    ob = schema.sync_status_outbox
    with engine.begin() as conn:
        _lock(conn)
        conn.execute(
            ob.update()
            .where(ob.c.order_id == row["order_id"], ob.c.version == row["version"], ob.c.outcome.is_(None))
            .values(
                outcome=outcome,
                delivered_at=ts,
                attempts=ob.c.attempts + 1,
                last_attempt_at=ts,
                next_attempt_at=None,
                last_error=error,
            )
        )


def _record_failure(
    engine: Engine,
    row: sa.RowMapping,
    ts: datetime,
    settings: PushSettings,
    exc: Exception,
    *,
    retry: bool,
) -> None:
    ob = schema.sync_status_outbox
    attempts = int(row["attempts"] or 0) + 1
    values: dict[str, Any] = {
        "attempts": ob.c.attempts + 1,
        "last_attempt_at": ts,
        "last_error": _describe(exc),
    }
    if retry:
        values["next_attempt_at"] = ts + settings.backoff(attempts)
    else:
        values["outcome"] = "rejected"
    with engine.begin() as conn:
        _lock(conn)
        conn.execute(
            ob.update()
            .where(ob.c.order_id == row["order_id"], ob.c.version == row["version"], ob.c.outcome.is_(None))
            .values(**values)
        )


def _describe(exc: Exception) -> str:
    """Class and message; FreshPortal errors are already scrubbed of e-mails and tokens."""
    return f"{type(exc).__name__}: {exc}"[:500]


def _note(result: PushResult, row: sa.RowMapping, exc: Exception) -> None:
    if len(result.errors) < LIST_LIMIT:
        result.errors.append(
            {"order_id": row["order_id"], "version": row["version"], "error": _describe(exc)}
        )
