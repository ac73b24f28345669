"""The ``data`` part of webhook events, built at the moment of the state change.

Shapes follow real deliveries (docs/checkout-com.md#webhook-payloads), including the parts a
receiver could wrongly rely on being there:

* payment events that move money carry the balances *after* the action; ``payment_pending``,
  ``payment_capture_pending`` and ``payment_expired`` carry **no** ``balances`` (pending events
  only ``id, action_id, amount, currency, processed_on, reference, metadata``; the expiry has an
  ``action_id`` of its own);
* some action events carry ``trigger`` (``"manual"``);
* the card appears with ``last_4`` (webhook spelling) rather than ``last4`` (API spelling), and
  ``source.type`` is not always ``card`` (sources.py);
* dispute events have **no** ``status`` (the event type is the lifecycle) but carry
  ``client_id``, ``entity_id``, ``processing_channel_id``, ``evidence_required_by`` only on
  ``dispute_evidence_required`` (and retrieval requests), and ``resolved_reason`` on the events
  that end a dispute.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import render
from .clock import cko_ts
from .ids import derived_id, derived_share
from .model import Account, Action, Dispute, Payment

#: Dispute events that carry ``evidence_required_by``: the Checkout.com samples show it on
#: ``dispute_evidence_required`` and not on the later events (docs pages "Webhook event types",
#: 2025); no sample of ``dispute_received`` was found, and it is sent with the same instant
#: ([A]), as is a retrieval request, which has a response deadline too ([A]).
DEADLINE_EVENTS = frozenset(
    {"dispute_received", "dispute_evidence_required", "request_for_information_received"}
)
#: Dispute events that end a dispute; only these carry ``resolved_reason``.
RESOLUTION_EVENTS = frozenset(
    {
        "dispute_accepted",
        "dispute_expired",
        "dispute_won",
        "dispute_lost",
        "dispute_canceled",
        "dispute_resolved",
        "dispute_arbitration_won",
        "dispute_arbitration_lost",
    }
)


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
    """``payment_captured`` / ``_refunded`` / ``_voided`` / ``_authorization_incremented`` / ``..._declined``.

    About half of them name a ``trigger``, as some real deliveries do.
    """
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
    if derived_share(action.id + ":trigger") < 0.5:
        data["trigger"] = "manual"
    return {k: v for k, v in data.items() if v is not None}


def capture_pending_data(payment: Payment, action: Action) -> dict[str, Any]:
    """``payment_capture_pending`` (an APM capture under way): no balances, no processing."""
    data: dict[str, Any] = {
        "id": payment.id,
        "action_id": action.id,
        "amount": action.amount,
        "currency": payment.currency,
        "processed_on": cko_ts(action.processed_on),
        "reference": action.reference or payment.reference,
        "metadata": action.metadata if action.metadata is not None else payment.metadata,
    }
    return {k: v for k, v in data.items() if v is not None}


def pending_data(payment: Payment, at: datetime, base: str) -> dict[str, Any]:
    """``payment_pending`` (3DS or APM redirect started): no balances."""
    return {
        "id": payment.id,
        "reference": payment.reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "processed_on": cko_ts(at),
        "metadata": payment.metadata,
        "event_links": _links(base, payment),
    }


def expired_data(payment: Payment, at: datetime, base: str) -> dict[str, Any]:
    """``payment_expired``: an ``action_id`` of its own and no balances."""
    return {
        "id": payment.id,
        "action_id": derived_id("act", payment.id + ":expiry"),
        "reference": payment.reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "processed_on": cko_ts(at),
        "metadata": payment.metadata,
        "event_links": _links(base, payment),
    }


def lifecycle_data(payment: Payment, at: datetime, base: str) -> dict[str, Any]:
    """``payment_canceled`` (no action of its own; balances as they are)."""
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


def dispute_data(dispute: Dispute, at: datetime, account: Account, event_type: str) -> dict[str, Any]:
    """Dispute events: the lifecycle is the event type, so ``data`` has no ``status``."""
    data: dict[str, Any] = {
        "id": dispute.id,
        "client_id": account.client_id,
        "entity_id": account.client_entity_id,
        "processing_channel_id": account.processing_channel_id,
        "date": cko_ts(at),
        "category": dispute.category,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "reason_code": dispute.reason_code,
        "payment_id": dispute.payment_id,
        "payment_action_id": dispute.payment_action_id,
        "payment_reference": dispute.payment_reference,
        "payment_arn": dispute.payment_arn,
        "payment_method": dispute.payment_method,
        "last_update": cko_ts(dispute.last_update),
    }
    if event_type in DEADLINE_EVENTS:
        data["evidence_required_by"] = cko_ts(dispute.evidence_required_by)
    if event_type in RESOLUTION_EVENTS:
        data["resolved_reason"] = dispute.resolved_reason
    return data
