"""Where an accepted movement's outcome comes from: its webhook, or the payment's actions.

For cards a refund, void or capture is asynchronous: the 202 only says "accepted". The outcome
arrives as ``payment_refunded`` / ``payment_refund_declined`` (and the void and capture pairs)
carrying the same ``action_id`` -- stored verbatim by the sidecar in ``raw_webhook_events``
before anything else reads it -- or, when no event came within the configured time, as the
action's ``approved`` flag in ``GET /payments/{id}/actions``. Either answer is final; both say
the same thing, so whichever is read first wins and the other changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.checkout.statuses import ActionType, EventType
from checkout_freshportal.sync.intents.store import CAPTURE, REFUND, VOID, MoneyIntent
from checkout_freshportal.sync.status.declines import DeclineRecord
from checkout_freshportal.sync.status.facts import minor_of, text_of, time_of
from checkout_freshportal.warehouse import schema

W = schema.raw_webhook_events

#: kind -> (event of success, event of decline, action type in ``GET /payments/{id}/actions``)
EVENTS: dict[str, tuple[str, str, str]] = {
    REFUND: (EventType.PAYMENT_REFUNDED, EventType.PAYMENT_REFUND_DECLINED, ActionType.REFUND),
    VOID: (EventType.PAYMENT_VOIDED, EventType.PAYMENT_VOID_DECLINED, ActionType.VOID),
    CAPTURE: (EventType.PAYMENT_CAPTURED, EventType.PAYMENT_CAPTURE_DECLINED, ActionType.CAPTURE),
}
_DECLINE_KIND = {REFUND: "refund_declined", VOID: "void_declined", CAPTURE: "capture_declined"}


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    amount_minor: int | None
    processed_at: datetime | None
    response_code: str | None
    response_summary: str | None
    source: str  # "webhook" | "actions"
    event_id: str | None = None
    #: The action's id when the actions list has it under another id than the 202 named
    #: (found by our reference): recorded with the outcome, so FreshPortal gets the real one.
    action_id: str | None = None

    def decline_record(self, intent: MoneyIntent) -> DeclineRecord | None:
        """The row for the central declines log (``ops_payment_declines``), keyed by action id
        as the events path keys it, so the two sources never double a decline."""
        if self.succeeded or intent.action_id is None or intent.payment_id is None:
            return None
        return DeclineRecord(
            decline_id=intent.action_id,
            payment_id=intent.payment_id,
            kind=_DECLINE_KIND[intent.kind],
            event_id=self.event_id,
            action_id=intent.action_id,
            response_code=self.response_code,
            response_summary=self.response_summary,
            amount_minor=intent.amount_minor,
            currency=intent.currency,
            occurred_at=self.processed_at,
            source="webhook" if self.source == "webhook" else "api",
        )


def from_events(conn: Connection, intents: Sequence[MoneyIntent]) -> dict[str, Outcome]:
    """Outcomes of accepted intents found among the stored webhooks, by intent id.

    One query for the whole batch: the events of the intents' payments of the six outcome types
    (``subject_id`` is indexed); bodies are parsed here, never trusted beyond their fields.
    """
    by_action = {i.action_id: i for i in intents if i.action_id and i.payment_id}
    if not by_action:
        return {}
    types = sorted({t for kind in EVENTS.values() for t in kind[:2]})
    payments = sorted({i.payment_id for i in by_action.values() if i.payment_id})
    out: dict[str, Outcome] = {}
    for start in range(0, len(payments), 500):
        q = sa.select(W.c.event_id, W.c.event_type, W.c.body, W.c.occurred_at).where(
            W.c.subject_id.in_(payments[start : start + 500]),
            W.c.event_type.in_(types),
            W.c.is_poison.is_(False),
        )
        for event_id, event_type, body, occurred_at in conn.execute(q):
            data = _data_of(body)
            action_id = data.get("action_id") if data else None
            intent = by_action.get(action_id) if isinstance(action_id, str) else None
            if intent is None or data is None:
                continue
            ok_type, declined_type, _ = EVENTS[intent.kind]
            if event_type not in (ok_type, declined_type):
                continue
            out[intent.intent_id] = Outcome(
                succeeded=event_type == ok_type,
                amount_minor=minor_of(data.get("amount")),
                processed_at=time_of(data.get("processed_on")) or occurred_at,
                response_code=text_of(data.get("response_code"), lenient=True),
                response_summary=text_of(data.get("response_summary"), lenient=True),
                source="webhook",
                event_id=event_id,
            )
    return out


def _data_of(body: bytes | None) -> dict[str, Any] | None:
    try:
        envelope = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    return data if isinstance(data, dict) else None


def from_actions(actions: Iterable[Mapping[str, Any]], intent: MoneyIntent) -> Outcome | None:
    """The outcome of ``intent`` in ``GET /payments/{id}/actions``, or None if not there yet.

    The action is the one with the id the 202 named; when no action has that id, the one of the
    intent's type carrying our ``reference`` (the intent id, as a lost 202's lookup finds it):
    otherwise an accepted request whose 202 named another id would wait for ever."""
    listed = [act for act in actions if isinstance(act, Mapping)]
    act = next((a for a in listed if a.get("id") == intent.action_id), None)
    other_id = None
    if act is None:
        other_id = find_action_id(listed, intent)
        act = next((a for a in listed if a.get("id") == other_id), None) if other_id else None
    if act is None:
        return None
    approved = act.get("approved")
    if not isinstance(approved, bool):
        return None  # still processing
    return Outcome(
        succeeded=approved,
        amount_minor=minor_of(act.get("amount")),
        processed_at=time_of(act.get("processed_on")),
        response_code=text_of(act.get("response_code"), lenient=True),
        response_summary=text_of(act.get("response_summary"), lenient=True),
        source="actions",
        action_id=other_id,
    )


def find_action_id(actions: Iterable[Mapping[str, Any]], intent: MoneyIntent) -> str | None:
    """The action a lost 202 created, found by the ``reference`` we sent (the intent id)."""
    action_type = EVENTS[intent.kind][2]
    for act in actions:
        if (
            isinstance(act, Mapping)
            and act.get("reference") == intent.reference
            and act.get("type") == action_type
            and isinstance(act.get("id"), str)
        ):
            return str(act["id"])
    return None
