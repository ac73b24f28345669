"""FreshPortal request bodies from our write models, field names through the mapping.

A body is written whole: a field we do not know goes out as ``null`` (the ``PUT`` replaces), and
amounts leave in the tenant's amount format, never as floats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..timeutil import format_ts_or_none
from .chargebacks import chargeback_body
from .mapping import FreshPortalMapping

if TYPE_CHECKING:
    from .models import PaymentStatusUpdate, RefundOutcome


def payment_update_body(update: PaymentStatusUpdate, m: FreshPortalMapping) -> dict[str, Any]:
    """``PUT /v1/orders/{id}/payment`` body: every field, ``null`` where unknown (replace)."""
    m.check_payment_status(update.status)
    if update.refund_state is not None and update.refund_state not in m.refund_states:
        raise ValueError(f"refund_state {update.refund_state!r} is not one of {sorted(m.refund_states)}")
    currency = update.currency.upper() if update.currency else None
    body: dict[str, Any] = {}
    m.put("payment", body, "status", update.status)
    m.put("payment", body, "currency", currency)
    m.put("payment", body, "amount_paid", _amount_out(m, update.amount_paid_minor, currency))
    m.put("payment", body, "amount_refunded", _amount_out(m, update.amount_refunded_minor, currency))
    m.put("payment", body, "refund_state", update.refund_state)
    m.put("payment", body, "payment_link_id", update.payment_link_id)
    m.put("payment", body, "payment_link_url", update.payment_link_url)
    m.put("payment", body, "payment_id", update.payment_id)
    m.put("payment", body, "payout_reference", update.payout_reference)
    m.put("payment", body, "status_changed_at", format_ts_or_none(update.status_changed_at))
    m.put("payment", body, "sequence", update.sequence)
    m.put("payment", body, "chargeback", chargeback_body(update.chargeback, m))
    return body


def refund_outcome_body(outcome: RefundOutcome, m: FreshPortalMapping) -> dict[str, Any]:
    """``PUT /v1/refund-requests/{id}/outcome`` body."""
    currency = outcome.currency.upper() if outcome.currency else None
    body: dict[str, Any] = {}
    m.put("refund_outcome", body, "status", m.refund_outcome_status(outcome.status))
    m.put("refund_outcome", body, "refunded_amount", _amount_out(m, outcome.refunded_amount_minor, currency))
    m.put("refund_outcome", body, "currency", currency)
    m.put("refund_outcome", body, "payment_id", outcome.payment_id)
    m.put("refund_outcome", body, "refund_id", outcome.refund_id)
    m.put("refund_outcome", body, "processed_at", format_ts_or_none(outcome.processed_at))
    m.put("refund_outcome", body, "failure_reason", outcome.failure_reason)
    return body


def note_body(text: str, external_ref: str, category: str, m: FreshPortalMapping) -> dict[str, Any]:
    body: dict[str, Any] = {}
    m.put("note", body, "text", text)
    m.put("note", body, "category", category)
    m.put("note", body, "external_ref", external_ref)
    return body


def _amount_out(m: FreshPortalMapping, minor: int | None, currency: str | None) -> str | int | None:
    if minor is None:
        return None
    if currency is None:
        raise ValueError("an amount needs a currency")
    return m.amount_from_minor(minor, currency)
