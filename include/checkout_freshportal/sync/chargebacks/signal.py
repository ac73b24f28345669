"""The chargeback signal: the ``chargeback`` object of an order's outbox payload.

Which dispute: the one that decides the governing payment's dispute state
(``stg_payment_status.dispute_id``, chosen by :func:`..status.disputes.governing_dispute`),
with its details from ``stg_disputes``. Its status is the more advanced of the two tables' (the
sweep may know a later status than the webhooks, and the other way round).

A retrieval request (``request_for_information_received``) is shown with status
:data:`RETRIEVAL_STATUS` while the payment has no dispute; it is not a chargeback, so the payment
status does not move. It has no staged row: the signal is carried from the order's previous
outbox payload until a dispute replaces it (docs/chargebacks.md).

The signal is plain JSON (ISO timestamps, integer minor units) because it is stored in the
outbox payload and compared there: a new outbox version is queued only when it changes, with
``updated_at`` left out of the comparison (:func:`material`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from checkout_freshportal.checkout.statuses import EventType
from checkout_freshportal.sync.chargebacks import store
from checkout_freshportal.sync.status.disputes import DISPUTE_RANK
from checkout_freshportal.sync.status.facts import currency_of, id_of, minor_of, text_of, time_of
from checkout_freshportal.timeutil import format_ts, format_ts_or_none

#: The signal's status for a retrieval request (not a Checkout.com dispute status).
RETRIEVAL_STATUS = "retrieval_request"
#: Signal keys that are informational: a change in them alone is not worth a push.
VOLATILE = frozenset({"updated_at"})


def signal_of_dispute(row: Mapping[str, Any], status: str | None = None) -> dict[str, Any]:
    """A ``stg_disputes`` row as the order's signal (``status`` overrides the row's)."""
    return {
        "dispute_id": row["dispute_id"],
        "payment_id": row["payment_id"],
        "category": row["category"],
        "reason_code": row["reason_code"],
        "amount_minor": row["amount_minor"],
        "currency": row["currency"],
        "status": status or row["status"],
        "evidence_required_by": format_ts_or_none(row["evidence_required_by"]),
        "updated_at": format_ts_or_none(row["last_update"]),
    }


def retrieval_signal(event_type: str, at: datetime, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The signal of a ``request_for_information_received`` webhook, or None (another type or
    unreadable: without a dispute id, payment, amount and currency there is nothing to show)."""
    if event_type != EventType.REQUEST_FOR_INFORMATION_RECEIVED:
        return None
    dispute_id = id_of(data.get("id"), name="data.id", lenient=True)
    payment_id = id_of(data.get("payment_id"), name="data.payment_id", lenient=True)
    amount = minor_of(data.get("amount"))
    currency = currency_of(data.get("currency"), name="data.currency", lenient=True)
    deadline = time_of(data.get("evidence_required_by"))
    category = text_of(data.get("category"), name="data.category", lenient=True)
    reason = text_of(data.get("reason_code"), name="data.reason_code", lenient=True)
    if dispute_id is None or payment_id is None or amount is None or currency is None:
        return None
    return {
        "dispute_id": dispute_id,
        "payment_id": payment_id,
        "category": category,
        "reason_code": reason,
        "amount_minor": amount,
        "currency": currency,
        "status": RETRIEVAL_STATUS,
        "evidence_required_by": format_ts_or_none(deadline),
        "updated_at": format_ts(at),
    }


def chargeback_signal(
    conn: Connection,
    status_row: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    retrievals: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The signal the order should show, from its governing payment's status row.

    ``previous``: the order's last outbox payload (where a retrieval request is carried);
    ``retrievals``: retrieval signals of this run, by payment id.
    """
    payment_id = status_row["payment_id"]
    dispute_id = status_row["dispute_id"]
    if dispute_id is not None:
        row = store.dispute(conn, dispute_id)
        if row is None:
            return None  # the webhook could not be staged; the sweep brings the row
        status = status_row["dispute_status"]
        if status is None or DISPUTE_RANK.get(row["status"], 0) >= DISPUTE_RANK.get(status, 0):
            status = row["status"]
        return signal_of_dispute(row, status)
    fresh = (retrievals or {}).get(payment_id)
    if fresh is not None:
        return dict(fresh)
    carried = (previous or {}).get("chargeback")
    if (
        isinstance(carried, Mapping)
        and carried.get("status") == RETRIEVAL_STATUS
        and carried.get("payment_id") == payment_id
    ):
        return dict(carried)
    return None


def material(signal: Any) -> Any:
    """The signal without its informational keys."""
    if not isinstance(signal, Mapping):
        return signal
    return {k: v for k, v in signal.items() if k not in VOLATILE}
