"""From a derived Checkout.com status to what FreshPortal shows for the order.

Two questions the state machine cannot answer alone: which FreshPortal status a derivation
means (tenant configuration, :class:`StatusMapping`, no status table in code) and, when an order
has several payments (a declined try, then a paid one), which one speaks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from checkout_freshportal.checkout.statuses import DisputeState, PaymentStatus
from checkout_freshportal.sync.status.derivation import Derivation


class StatusMapping(Protocol):
    """The part of ``FreshPortalMapping`` used here (the mapping itself is tenant config)."""

    def payment_status_for(self, checkout_status: str) -> str: ...
    def payment_status_for_dispute(self, dispute_status: str) -> str: ...


def freshportal_status(d: Derivation, mapping: StatusMapping) -> str | None:
    """The FreshPortal payment status of a derivation, through the tenant mapping.

    An open or lost dispute decides (``dispute_status_map``). A dispute closed in the merchant's
    favour gives the payment its dispute mapping (``won`` -> paid by default) unless money was
    refunded, in which case the payment's own status (Refunded / Partially Refunded) is the
    truer one: ``resolved`` means "auto-resolved because already refunded" (docs/checkout-com.md#event-types).
    """
    if d.dispute_status is not None and d.dispute_state in {DisputeState.DISPUTED, DisputeState.CHARGEBACK}:
        return mapping.payment_status_for_dispute(d.dispute_status)
    if d.dispute_status is not None and d.dispute_state == DisputeState.DISPUTE_WON:
        refunded = d.balances is not None and d.balances.total_refunded > 0
        if not (refunded and d.status):
            return mapping.payment_status_for_dispute(d.dispute_status)
    if d.status is None:
        return None
    return mapping.payment_status_for(d.status)


def refund_state(status: str | None, total_refunded: int | None) -> str:
    """FreshPortal ``refund_state`` from the derived status: none, partial or full."""
    if not total_refunded:
        return "none"
    return "full" if status == PaymentStatus.REFUNDED else "partial"


# ============================================================================ one order, many payments

#: Which payment speaks for an order when several exist (a declined try, then a paid one):
#: money that moved beats an open authorization beats an attempt in progress beats a dead one.
STATUS_STRENGTH: dict[str | None, int] = {
    PaymentStatus.CAPTURED: 4,
    PaymentStatus.PARTIALLY_CAPTURED: 4,
    PaymentStatus.REFUNDED: 4,
    PaymentStatus.PARTIALLY_REFUNDED: 4,
    PaymentStatus.PAID: 4,
    PaymentStatus.AUTHORIZED: 3,
    PaymentStatus.PENDING: 2,
    PaymentStatus.RETRY_SCHEDULED: 2,
    PaymentStatus.CARD_VERIFIED: 2,
    PaymentStatus.VOIDED: 1,
    PaymentStatus.EXPIRED: 1,
    PaymentStatus.CANCELED: 1,
    PaymentStatus.DECLINED: 0,
    None: -1,
}


@dataclass(frozen=True)
class PaymentSummary:
    """What :func:`governing_payment` needs to know of one payment of an order."""

    payment_id: str
    status: str | None
    money_moved: bool
    status_since: datetime | None


def governing_payment(candidates: Sequence[PaymentSummary]) -> PaymentSummary | None:
    """The payment whose status is the order's: strongest status, then the latest, then by id."""
    if not candidates:
        return None

    def key(p: PaymentSummary) -> tuple[Any, ...]:
        strength = 4 if p.money_moved else STATUS_STRENGTH.get(p.status, 2)
        since = p.status_since.timestamp() if p.status_since else float("-inf")
        return (strength, since, p.payment_id)

    return max(candidates, key=key)
