"""The status outbox: what FreshPortal should show for an order, queued once per change.

One row per ``(order_id, version)`` in ``sync_status_outbox``; ``status_push`` delivers the
newest. A row is queued only when the payload of the order's governing payment changes
(ignoring the informational ``status_changed_at``), so a re-applied event queues nothing.
Runs inside the transaction that applied the events (docs/status-machine.md). A dispute adds
its ``chargeback`` signal (:mod:`..chargebacks.signal`, docs/chargebacks.md); the key is absent
when there is none, so payloads queued before the signal existed compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from checkout_freshportal.sync.chargebacks.signal import chargeback_signal
from checkout_freshportal.sync.chargebacks.signal import material as material_signal
from checkout_freshportal.sync.events import store
from checkout_freshportal.sync.status.mapping import PaymentSummary, governing_payment, refund_state
from checkout_freshportal.timeutil import format_ts_or_none


def _payload_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """What FreshPortal should show for the order, from its governing payment. No PII."""
    captured = row["total_captured_minor"]
    refunded = row["total_refunded_minor"]
    since = row["status_since"]
    return {
        "status": row["freshportal_status"],
        "checkout_status": row["status"],
        "dispute_status": row["dispute_status"],
        "payment_id": row["payment_id"],
        "currency": row["currency"],
        "amount_paid_minor": captured,
        "amount_refunded_minor": refunded,
        "refund_state": refund_state(row["status"], refunded),
        "status_changed_at": format_ts_or_none(since),
    }


#: Payload keys that are informational: a difference in them alone is not worth a push.
_VOLATILE_KEYS = frozenset({"status_changed_at"})


def _material_payload(payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    out = {k: v for k, v in payload.items() if k not in _VOLATILE_KEYS}
    if "chargeback" in out:
        out["chargeback"] = material_signal(out["chargeback"])
    return out


def refresh_outbox(
    conn: Connection,
    order_ids: Iterable[str],
    *,
    run_id: str | None,
    now: datetime,
    retrievals: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """For each order: pick the payment that speaks for it, and queue a write if that changed.

    The version is per order: one more than the highest of our outbox versions and the
    ``sequence`` FreshPortal reports holding (``stg_orders.payment_sequence``), so a rebuilt
    warehouse still writes above what FreshPortal has. Runs inside the caller's transaction.
    ``retrievals``: retrieval-request signals of this run by payment id (they have no table).
    """
    added = 0
    for order_id in sorted(set(order_ids)):
        row = _governing_row(store.payments_of_order(conn, order_id))
        if row is None:
            continue
        payload = _payload_of(row)
        last = store.last_outbox(conn, order_id)
        signal = chargeback_signal(conn, row, last[1] if last is not None else None, retrievals)
        if signal is not None:
            payload["chargeback"] = signal
        if last is not None and _material_payload(last[1]) == _material_payload(payload):
            continue
        version = max(last[0] if last is not None else 0, store.freshportal_sequence(conn, order_id)) + 1
        store.add_outbox(
            conn,
            order_id=order_id,
            version=version,
            payment_id=row["payment_id"],
            checkout_status=row["status"],
            payload=payload,
            run_id=run_id,
            now=now,
        )
        added += 1
    return added


def _governing_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The status row of the payment that speaks for the order (only mapped statuses compete)."""
    summaries = [
        PaymentSummary(
            payment_id=r["payment_id"],
            status=r["status"],
            money_moved=bool(
                (r["total_captured_minor"] or 0) > 0
                or (r["total_refunded_minor"] or 0) > 0
                or r["dispute_state"] is not None
            ),
            status_since=r["status_since"],
        )
        for r in rows
        if r["freshportal_status"] is not None
    ]
    chosen = governing_payment(summaries)
    if chosen is None:
        return None
    return next(r for r in rows if r["payment_id"] == chosen.payment_id)
