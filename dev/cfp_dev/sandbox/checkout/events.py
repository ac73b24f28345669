"""The ``data`` part of webhook events, built at the moment of the state change.

Payment events carry the balances *after* the action (reference §6.2), so a receiver can derive
state from any single event; the card appears with ``last_4`` (webhook spelling) rather than
``last4`` (API spelling).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import render
from .clock import cko_ts
from .model import Action, Dispute, Payment


def _links(base: str, payment: Payment, refund: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "payment": f"{base}/payments/{payment.id}",
        "payment_actions": f"{base}/payments/{payment.id}/actions",
    }
    if refund:
        out["refund"] = f"{base}/payments/{payment.id}/refunds"
    return out


def authorization_data(payment: Payment, action: Action, base: str) -> dict[str, Any]:
    """``payment_approved`` / ``payment_declined`` / ``card_verified`` / ``..._declined``."""
    data: dict[str, Any] = {
        "id": payment.id,
        "action_id": action.id,
        "reference": payment.reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "processed_on": cko_ts(action.processed_on),
        "response_code": action.response_code,
        "response_summary": action.response_summary,
        "payment_type": payment.payment_type,
        "auth_code": action.auth_code,
        "scheme_id": render.scheme_id(payment) if action.approved else None,
        "source": render.source(payment, webhook=True),
        "customer": payment.customer,
        "risk": {"flagged": False, "score": 12},
        "balances": payment.balances(),
        "metadata": payment.metadata,
        "processing": render.processing(action),
        "cko_network_token_available": False,
        "pan_type_processed": "fpan",
        "event_links": _links(base, payment),
    }
    if payment.expires_on is not None and action.approved:
        data["expires_on"] = cko_ts(payment.expires_on)
    return {k: v for k, v in data.items() if v is not None}


def action_data(payment: Payment, action: Action, base: str) -> dict[str, Any]:
    """``payment_captured`` / ``payment_refunded`` / ``payment_voided`` / ``..._declined``."""
    data: dict[str, Any] = {
        "id": payment.id,
        "action_id": action.id,
        "reference": action.reference or payment.reference,
        "amount": action.amount,
        "currency": payment.currency,
        "processed_on": cko_ts(action.processed_on),
        "response_code": action.response_code,
        "response_summary": action.response_summary,
        "balances": payment.balances(),
        "metadata": action.metadata if action.metadata is not None else payment.metadata,
        "processing": render.processing(action),
        "event_links": _links(base, payment, refund=action.type == "Capture"),
    }
    return {k: v for k, v in data.items() if v is not None}


def lifecycle_data(payment: Payment, at: datetime, base: str) -> dict[str, Any]:
    """``payment_expired`` / ``payment_canceled`` / ``payment_pending`` (no action of their own)."""
    return {
        "id": payment.id,
        "reference": payment.reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "processed_on": cko_ts(at),
        "balances": payment.balances(),
        "metadata": payment.metadata,
        "event_links": _links(base, payment),
    }


def dispute_data(dispute: Dispute, at: datetime) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "date": cko_ts(at),
        "category": dispute.category,
        "status": dispute.status,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "reason_code": dispute.reason_code,
        "payment_id": dispute.payment_id,
        "payment_action_id": dispute.payment_action_id,
        "payment_reference": dispute.payment_reference,
        "payment_arn": dispute.payment_arn,
        "payment_method": dispute.payment_method,
        "evidence_required_by": cko_ts(dispute.evidence_required_by),
        "last_update": cko_ts(dispute.last_update),
    }
