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

from checkout_freshportal.checkout.models import answer_balance
from checkout_freshportal.money import format_major
from checkout_freshportal.sync.intents.store import REFUND, VOID
from checkout_freshportal.sync.refunds import reasons
from checkout_freshportal.sync.refunds.reasons import Rejection


@dataclass(frozen=True)
class Movement:
    """What to send: a refund of ``amount_minor``, or a void of the whole authorisation."""

    kind: str  # refund | void
    amount_minor: int


@dataclass(frozen=True)
class Wait:
    """Not an answer: the request is validated again next run (nothing was sent)."""

    why: str


def check_amount(amount_minor: int, currency: str) -> Rejection | None:
    """Before any lookup: a request for nothing (or less) is answered at once."""
    if amount_minor <= 0:
        return Rejection(reasons.INVALID_AMOUNT, "The refund amount must be greater than zero.")
    return None


def decide(
    *, amount_minor: int, currency: str, payment: Mapping[str, Any] | None, allow_voids: bool
) -> Movement | Rejection | Wait:
    """The movement a request becomes, why it cannot be executed (a stable code and text), or
    why not yet (the answer did not say what the payment holds)."""
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
    captured = answer_balance(payment, "total_captured")
    needed = "available_to_void" if captured == 0 else "available_to_refund"
    left = None if captured is None else answer_balance(payment, needed)
    if left is None and captured == 0 and not allow_voids:  # only a void could answer it
        return Rejection(
            reasons.VOID_NOT_ALLOWED,
            f"Payment {payment.get('id')} is not captured, and voiding it is turned off "
            "(refund settings: allow_voids).",
        )
    if left is None:
        return Wait(f"Checkout.com's answer for payment {payment.get('id')} does not say what it holds")
    if captured == 0:
        return _uncaptured(payment, amount_minor, currency, left, allow_voids)
    refundable = left
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
