"""Disputes: which status an event announces, how far along a dispute is, who kept the money.

Real dispute webhooks carry the life-cycle in the event *type* alone (``dispute_won``,
``dispute_evidence_required``, ...); their ``data`` has no ``status`` field, only the dispute's
ids, amount and, once closed, a ``resolved_reason``. So the type decides, and ``data.status`` is
only read for a type this module does not know.

Webhooks for one dispute arrive in any order, so a dispute's state is its most *advanced*
status (:data:`DISPUTE_RANK`), never the last one to arrive; with several disputes on a payment,
one the merchant lost decides over an open one, which decides over one the merchant won.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from checkout_freshportal.checkout.statuses import (
    DISPUTE_ARBITRATION_PREFIX,
    DisputeState,
    DisputeStatus,
    EventType,
)

if TYPE_CHECKING:  # facts.py imports this module; the dependency on Fact is for types only
    from checkout_freshportal.sync.status.facts import Fact

#: Dispute event -> the dispute status it announces (docs/checkout-com.md#event-types, #disputes).
DISPUTE_EVENT_STATUS: dict[str, str] = {
    EventType.DISPUTE_RECEIVED: DisputeStatus.EVIDENCE_REQUIRED,
    EventType.DISPUTE_EVIDENCE_REQUIRED: DisputeStatus.EVIDENCE_REQUIRED,
    EventType.DISPUTE_EVIDENCE_SUBMITTED: DisputeStatus.EVIDENCE_UNDER_REVIEW,
    EventType.DISPUTE_EVIDENCE_ACKNOWLEDGED_BY_SCHEME: DisputeStatus.EVIDENCE_UNDER_REVIEW,
    EventType.DISPUTE_ACCEPTED: DisputeStatus.ACCEPTED,
    EventType.DISPUTE_EXPIRED: DisputeStatus.EXPIRED,
    EventType.DISPUTE_WON: DisputeStatus.WON,
    EventType.DISPUTE_LOST: DisputeStatus.LOST,
    EventType.DISPUTE_CANCELED: DisputeStatus.CANCELED,
    EventType.DISPUTE_RESOLVED: DisputeStatus.RESOLVED,
    EventType.DISPUTE_ARBITRATION_SENT_TO_SCHEME: DisputeStatus.ARBITRATION_UNDER_REVIEW,
    EventType.DISPUTE_ARBITRATION_EVIDENCE_SUBMITTED: DisputeStatus.ARBITRATION_UNDER_REVIEW,
    EventType.DISPUTE_ARBITRATION_EVIDENCE_ACKNOWLEDGED_BY_SCHEME: DisputeStatus.ARBITRATION_UNDER_REVIEW,
    EventType.DISPUTE_ARBITRATION_WON: DisputeStatus.ARBITRATION_WON,
    EventType.DISPUTE_ARBITRATION_LOST: DisputeStatus.ARBITRATION_LOST,
}
#: How far along its life a dispute status is: a higher rank always wins over a lower one,
#: whatever order the events arrive in. Equal ranks: the later event wins.
DISPUTE_RANK: dict[str, int] = {
    DisputeStatus.EVIDENCE_REQUIRED: 1,
    DisputeStatus.UNRESOLVED: 2,
    DisputeStatus.EVIDENCE_UNDER_REVIEW: 2,
    DisputeStatus.WON: 3,
    DisputeStatus.LOST: 3,
    DisputeStatus.ACCEPTED: 3,
    DisputeStatus.EXPIRED: 3,
    DisputeStatus.CANCELED: 3,
    DisputeStatus.RESOLVED: 3,
    DisputeStatus.ARBITRATION_UNDER_REVIEW: 4,
    DisputeStatus.ARB_EVIDENCE_SUBMITTED: 4,
    DisputeStatus.ARBITRATION_WON: 5,
    DisputeStatus.ARBITRATION_LOST: 5,
}
#: Outcome class of a dispute status, in Checkout.com terms (who keeps the money).
DISPUTE_LOST = frozenset(
    {DisputeStatus.LOST, DisputeStatus.ACCEPTED, DisputeStatus.EXPIRED, DisputeStatus.ARBITRATION_LOST}
)
DISPUTE_WON = frozenset(
    {DisputeStatus.WON, DisputeStatus.CANCELED, DisputeStatus.RESOLVED, DisputeStatus.ARBITRATION_WON}
)


def dispute_status_of_event(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The dispute status an event announces, or None when it cannot be told.

    The event type decides (real deliveries have no ``data.status``). A type not listed falls
    back to ``data.status``, and an unlisted ``dispute_arbitration_*`` type to "arbitration under
    review": arbitration events other than won/lost all mean the case is with the scheme.
    """
    status = DISPUTE_EVENT_STATUS.get(event_type)
    if status is None:
        raw = data.get("status")
        status = raw.strip() if isinstance(raw, str) and raw.strip() else None
    if status is None and event_type.startswith(DISPUTE_ARBITRATION_PREFIX):
        status = DisputeStatus.ARBITRATION_UNDER_REVIEW
    return status if status in DISPUTE_RANK else None


def dispute_state_of(status: str | None) -> str:
    """``Chargeback`` (lost), ``Dispute Won`` or ``Disputed`` (still open)."""
    if status in DISPUTE_LOST:
        return DisputeState.CHARGEBACK
    if status in DISPUTE_WON:
        return DisputeState.DISPUTE_WON
    return DisputeState.DISPUTED


def dispute_key(f: Fact) -> tuple[Any, ...]:
    """Order of the events of one dispute: the most advanced status, then the latest."""
    return (DISPUTE_RANK.get(f.dispute_status or "", 0), *f.sort_key())


def latest_per_dispute(facts: Iterable[Fact]) -> dict[str, Fact]:
    """The most advanced fact of each dispute (the others say nothing it does not)."""
    best: dict[str, Fact] = {}
    for f in facts:
        if f.dispute_id is not None:
            cur = best.get(f.dispute_id)
            if cur is None or dispute_key(f) > dispute_key(cur):
                best[f.dispute_id] = f
    return best


def governing_dispute(facts: Iterable[Fact]) -> tuple[Fact | None, str | None]:
    """The dispute that decides the payment's dispute state, and that state.

    Lost beats open beats won: a chargeback takes the money whatever the other disputes did.
    """
    best = latest_per_dispute(facts)
    if not best:
        return None, None

    def severity(f: Fact) -> tuple[Any, ...]:
        status = f.dispute_status or ""
        cls = 3 if status in DISPUTE_LOST else 1 if status in DISPUTE_WON else 2
        return (cls, *f.sort_key())

    top = max(best.values(), key=severity)
    return top, dispute_state_of(top.dispute_status)
