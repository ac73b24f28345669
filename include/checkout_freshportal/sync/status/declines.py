"""The declines log: what Checkout.com refused or let lapse, with its codes (``ops_payment_declines``).

A declined capture, void or refund changes no balance and so no status; without this log the
refusal and its response code would be lost. Webhooks and ``GET /payments/{id}`` describe the
same declined action under the same key (the action id), so the two sources fill each other's
gaps without doubling a row.

A webhook text field no column can hold (a NUL, a lone surrogate, an absurd length) raises
:class:`~.facts.UnsafeText` and the event becomes poison, as in :mod:`.facts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checkout_freshportal.checkout.statuses import ActionType, EventType
from checkout_freshportal.sync.status.facts import (
    currency_of,
    id_of,
    minor_of,
    payment_id_of,
    text_of,
    time_of,
)

#: Decline-log kind of an event (ops_payment_declines.kind).
DECLINE_KINDS: dict[str, str] = {
    EventType.PAYMENT_DECLINED: "payment_declined",
    EventType.CARD_VERIFICATION_DECLINED: "payment_declined",
    EventType.PAYMENT_AUTHENTICATION_FAILED: "authentication_failed",
    EventType.PAYMENT_AUTHORIZATION_INCREMENT_DECLINED: "increment_declined",
    EventType.PAYMENT_CAPTURE_DECLINED: "capture_declined",
    EventType.PAYMENT_VOID_DECLINED: "void_declined",
    EventType.PAYMENT_REFUND_DECLINED: "refund_declined",
    EventType.PAYMENT_EXPIRED: "expired",
    EventType.PAYMENT_CANCELED: "canceled",
}
#: Decline-log kind of a declined action in a payment's ``actions[]`` (the API snapshot).
DECLINE_KIND_OF_ACTION: dict[str, str] = {
    ActionType.AUTHORIZATION: "payment_declined",
    ActionType.CARD_VERIFICATION: "payment_declined",
    ActionType.CAPTURE: "capture_declined",
    ActionType.VOID: "void_declined",
    ActionType.REFUND: "refund_declined",
}


@dataclass(frozen=True, slots=True)
class DeclineRecord:
    """One row of ``ops_payment_declines``: what was refused or lapsed, with its codes."""

    decline_id: str  # the action id when there is one, else the event id
    payment_id: str
    kind: str
    event_id: str | None
    action_id: str | None
    response_code: str | None
    response_summary: str | None
    amount_minor: int | None
    currency: str | None
    occurred_at: datetime | None
    source: str  # "webhook" | "api"


def decline_from_event(
    event_id: str, event_type: str, at: datetime | None, data: Mapping[str, Any]
) -> DeclineRecord | None:
    """The declines-log row of a webhook, or None when the event declines nothing.

    A ``payment_expired`` carries an ``action_id`` in real deliveries; it keys the row like any
    other action, so a resend of the event is the same row.
    """
    kind = DECLINE_KINDS.get(event_type)
    payment_id = payment_id_of(event_type, data)
    if kind is None or payment_id is None:
        return None
    action_id = id_of(data.get("action_id"), name="data.action_id")
    return DeclineRecord(
        decline_id=action_id or event_id,
        payment_id=payment_id,
        kind=kind,
        event_id=event_id,
        action_id=action_id,
        response_code=text_of(data.get("response_code"), name="data.response_code"),
        response_summary=text_of(data.get("response_summary"), name="data.response_summary"),
        amount_minor=minor_of(data.get("amount")),
        currency=currency_of(data.get("currency"), name="data.currency"),
        occurred_at=time_of(data.get("processed_on")) or at,
        source="webhook",
    )


def declines_from_payment(payment: Mapping[str, Any]) -> list[DeclineRecord]:
    """Declined actions listed by ``GET /payments/{id}`` (fills gaps left by lost webhooks).

    Text no column can hold is read as absent (``lenient``): an API answer cannot be set aside
    like an event, and the rest of the row is still worth logging.
    """
    payment_id = id_of(payment.get("id"), name="id", lenient=True)
    actions = payment.get("actions")
    if payment_id is None or not isinstance(actions, list):
        return []
    out = []
    for act in actions:
        if not isinstance(act, Mapping):
            continue
        kind = DECLINE_KIND_OF_ACTION.get(str(act.get("type")))
        action_id = id_of(act.get("id"), name="actions[].id", lenient=True)
        if kind is None or action_id is None or not _is_declined(act):
            continue
        out.append(
            DeclineRecord(
                decline_id=action_id,
                payment_id=payment_id,
                kind=kind,
                event_id=None,
                action_id=action_id,
                response_code=text_of(act.get("response_code"), lenient=True),
                response_summary=text_of(act.get("response_summary"), lenient=True),
                amount_minor=minor_of(act.get("amount")),
                currency=currency_of(payment.get("currency"), lenient=True),
                occurred_at=time_of(act.get("processed_on")),
                source="api",
            )
        )
    return out


def _is_declined(action: Mapping[str, Any]) -> bool:
    approved = action.get("approved")
    if isinstance(approved, bool):
        return not approved
    code = text_of(action.get("response_code"), lenient=True)
    # 10xxx = approved (docs/checkout-com.md#response-codes)
    return code is not None and not code.startswith("10")
