"""Can a release be captured against the payment as Checkout.com knows it right now?

Pure: ``payment`` is a fresh ``GET /payments/{id}`` body. A rejection is final and reported on
the order; nothing is sent, so a capture Checkout.com would refuse anyway (expired, nothing
left, too much) never costs a write. A :class:`Wait` is not an answer: the release is tried
again next run (another capture of the order is still in flight).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checkout_freshportal.checkout.models import answer_balance
from checkout_freshportal.money import format_major
from checkout_freshportal.sync.captures import reasons
from checkout_freshportal.sync.captures.reasons import Rejection
from checkout_freshportal.sync.status.facts import time_of


@dataclass(frozen=True)
class Capture:
    amount_minor: int
    final: bool


@dataclass(frozen=True)
class Wait:
    why: str


def check_amount(amount_minor: int) -> Rejection | None:
    if amount_minor <= 0:
        return Rejection(reasons.INVALID_AMOUNT, "The released amount must be greater than zero.")
    return None


def decide(
    *,
    amount_minor: int,
    currency: str,
    final: bool,
    payment: Mapping[str, Any] | None,
    now: datetime,
    is_manual: Callable[[object], bool],
    in_flight_minor: int = 0,
) -> Capture | Rejection | Wait:
    """The capture a release becomes, why it cannot be made (a stable code), or why not yet.

    ``in_flight_minor``: our captures of this payment accepted but not yet landed, which
    ``available_to_capture`` does not count yet.
    """
    bad = check_amount(amount_minor)
    if bad is not None:
        return bad
    if payment is None or payment.get("approved") is False:
        return Rejection(
            reasons.PAYMENT_NOT_FOUND, "No approved Checkout.com payment was found for this order."
        )
    pid = payment.get("id")
    pay_currency = str(payment.get("currency") or "").upper()
    if pay_currency != currency.upper():
        return Rejection(
            reasons.CURRENCY_MISMATCH,
            f"The release is in {currency.upper()} but payment {pid} is in "
            f"{pay_currency or 'an unknown currency'}.",
        )
    if not is_manual(payment.get("processing_channel_id")):
        return Rejection(
            reasons.AUTO_CAPTURE_CHANNEL, f"Payment {pid} is on an auto-capture channel: nothing to capture."
        )
    available = answer_balance(payment, "available_to_capture")
    expired = _expired(payment, now, available)
    if expired is not None:
        return expired
    if available is None:
        return Wait(f"Checkout.com's answer for payment {pid} does not say what it can still capture")
    if available == 0:
        return Rejection(
            reasons.NOTHING_TO_CAPTURE,
            f"Payment {pid} has nothing left to capture ({payment.get('status')}).",
        )
    if amount_minor > available:
        return Rejection(
            reasons.AMOUNT_EXCEEDS_CAPTURABLE,
            f"The release of {format_major(amount_minor, currency)} exceeds what payment {pid} can still "
            f"capture ({format_major(available, currency)}).",
        )
    if amount_minor > available - in_flight_minor:
        return Wait("earlier captures of this payment are still landing")
    return Capture(amount_minor, final)


def _expired(payment: Mapping[str, Any], now: datetime, available: int | None) -> Rejection | None:
    """The authorisation lapsed: ``Expired``, or ``expires_on`` passed with an amount still
    authorised, or unknown (``available`` None: the answer had no balances), or a partial
    capture whose remainder lapsed."""
    expires_on = time_of(payment.get("expires_on"))
    passed = expires_on is not None and expires_on <= now
    status = payment.get("status")
    still = available is None or available > 0
    if status == "Expired" or (passed and (still or status == "Partially Captured")):
        when = f" on {expires_on.isoformat()}" if expires_on is not None else ""
        return Rejection(
            reasons.AUTHORIZATION_EXPIRED,
            f"The authorisation of payment {payment.get('id')} expired{when}; the goods were released "
            "but cannot be charged on it.",
        )
    return None
