"""Is a refund request executable against the payment as Checkout.com knows it right now?

Pure: the payment is a fresh ``GET /payments/{id}`` body, read just before the POST, so the
balances are Checkout.com's and not the warehouse's (a dashboard refund made a minute ago
counts). A rejection is answered in FreshPortal and nothing is sent; a refund Checkout.com
would refuse anyway (over the refundable balance, before capture) never costs a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checkout_freshportal.money import format_major
from checkout_freshportal.sync.intents.store import REFUND, VOID
from checkout_freshportal.sync.refunds import reasons
from checkout_freshportal.sync.refunds.reasons import Rejection


@dataclass(frozen=True)
class Movement:
    """What to send: a refund of ``amount_minor``, or a void of the whole authorisation."""

    kind: str  # refund | void
    amount_minor: int


def _balance(payment: Mapping[str, Any], name: str) -> int:
    balances = payment.get("balances")
    value = balances.get(name) if isinstance(balances, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def check_amount(amount_minor: int, currency: str) -> Rejection | None:
    """Before any lookup: a request for nothing (or less) is answered at once."""
    if amount_minor <= 0:
        return Rejection(reasons.INVALID_AMOUNT, "The refund amount must be greater than zero.")
    return None


def decide(
    *, amount_minor: int, currency: str, payment: Mapping[str, Any] | None, allow_voids: bool
) -> Movement | Rejection:
    """The movement a request becomes, or why it cannot be executed (a stable code and text)."""
    bad_amount = check_amount(amount_minor, currency)
    if bad_amount is not None:
        return bad_amount
    if payment is None or payment.get("approved") is False:
        return Rejection(
            reasons.PAYMENT_NOT_FOUND, "No approved Checkout.com payment was found for this order."
        )
    pay_currency = str(payment.get("currency") or "").upper()
    if pay_currency != currency.upper():
        return Rejection(
            reasons.CURRENCY_MISMATCH,
            f"The refund is in {currency.upper()} but the payment {payment.get('id')} is in "
            f"{pay_currency or 'an unknown currency'}.",
        )
    captured = _balance(payment, "total_captured")
    refundable = _balance(payment, "available_to_refund")
    voidable = _balance(payment, "available_to_void")
    if captured == 0:
        return _uncaptured(payment, amount_minor, currency, voidable, allow_voids)
    if amount_minor > refundable:
        return Rejection(
            reasons.AMOUNT_EXCEEDS_REFUNDABLE,
            f"The refund of {format_major(amount_minor, currency)} exceeds what payment "
            f"{payment.get('id')} can still refund ({format_major(refundable, currency)}).",
        )
    return Movement(REFUND, amount_minor)


def _uncaptured(
    payment: Mapping[str, Any], amount_minor: int, currency: str, voidable: int, allow_voids: bool
) -> Movement | Rejection:
    """Nothing captured: only a full refund of a still-voidable authorisation can be honoured,
    as a void (the money was never taken)."""
    if voidable == 0 or amount_minor != voidable:
        return Rejection(
            reasons.PAYMENT_NOT_CAPTURED,
            f"Payment {payment.get('id')} has not been captured; only a refund of the full "
            f"authorised amount ({format_major(voidable, currency)}) can cancel it.",
        )
    if not allow_voids:
        return Rejection(
            reasons.VOID_NOT_ALLOWED,
            f"Payment {payment.get('id')} is authorised but not captured, and voiding it is "
            "turned off (refund settings: allow_voids).",
        )
    return Movement(VOID, amount_minor)
