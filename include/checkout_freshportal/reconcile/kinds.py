"""The exception kinds: stable names that reports, tests and FreshPortal notes use.

A kind's name never changes (an explained mark and the audit trail are keyed on it); a new
finding gets a new kind. Severity says who must act and how soon:

* ``high``: money is wrong or missing (customer or merchant loses money until someone acts);
* ``medium``: money is late or unproven (may heal by itself, must be watched);
* ``low``: bookkeeping differs (FreshPortal shows something else than Checkout.com);
* ``info``: nothing to fix, kept for the record (a declined payment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Kind:
    name: str
    severity: str
    #: One line for finance: what happened and what to do (reports, notes, docs).
    meaning: str


_KINDS = (
    Kind("missing_payment", "high", "Confirmed order past its due time with nothing captured."),
    Kind("amount_mismatch", "high", "Captured amount differs from the order's amount."),
    Kind(
        "unconfirmed_order_paid",
        "high",
        "Order not confirmed (cancelled, draft) that keeps money: nothing is due on it.",
    ),
    Kind("currency_mismatch", "high", "Payment in another currency than its order."),
    Kind("orphan_payment", "high", "Captured payment that belongs to no order."),
    Kind("duplicate_payment", "high", "More captured than ordered, through several payments."),
    Kind("over_refund", "high", "Refunded more than the order's refundable amount."),
    Kind("refund_not_executed", "high", "Refund request with no refund at Checkout.com after its due time."),
    Kind("refund_not_requested", "medium", "Refund at Checkout.com with no request in FreshPortal."),
    Kind("status_drift", "low", "FreshPortal shows another payment status than the derived one."),
    Kind("unsettled_capture", "medium", "Capture with no financial action or payout after the window."),
    Kind("payout_mismatch", "high", "Payout whose lines do not sum to its amount."),
    Kind("chargeback_open", "medium", "Open chargeback: evidence or a decision is pending."),
    Kind("chargeback_lost", "high", "Chargeback lost or accepted: the money went back to the cardholder."),
    Kind("payment_failed", "info", "Declined payment attempt (informational)."),
)

KINDS: Final[dict[str, Kind]] = {k.name: k for k in _KINDS}
SEVERITIES: Final[tuple[str, ...]] = ("high", "medium", "low", "info")
STATUSES: Final[tuple[str, ...]] = ("open", "resolved", "explained")


def severity(kind: str) -> str:
    return KINDS[kind].severity
