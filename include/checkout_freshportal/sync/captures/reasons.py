"""The stable reason codes a release that was not captured is answered with, and their texts.

Codes are an interface: the note on the FreshPortal order starts with one, and finance reports
and reconciliation read them, so a code is never renamed or reused (docs/captures.md#reason-codes).
Texts carry amounts and ids, never card or personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

INVALID_AMOUNT = "invalid_amount"
PAYMENT_NOT_FOUND = "payment_not_found"
CURRENCY_MISMATCH = "currency_mismatch"
AUTO_CAPTURE_CHANNEL = "auto_capture_channel"
AUTHORIZATION_EXPIRED = "authorization_expired"
NOTHING_TO_CAPTURE = "nothing_to_capture"
AMOUNT_EXCEEDS_CAPTURABLE = "amount_exceeds_capturable"
#: Set by the shared intent executor (a 403/404/422 from ``POST /payments/{id}/captures``).
REFUSED_BY_CHECKOUT = "refused_by_checkout"
#: Set by the shared store when Checkout.com processed and declined the capture.
DECLINED = "declined"

CODES = (
    INVALID_AMOUNT,
    PAYMENT_NOT_FOUND,
    CURRENCY_MISMATCH,
    AUTO_CAPTURE_CHANNEL,
    AUTHORIZATION_EXPIRED,
    NOTHING_TO_CAPTURE,
    AMOUNT_EXCEEDS_CAPTURABLE,
    REFUSED_BY_CHECKOUT,
    DECLINED,
)

#: Nothing went wrong: the payment's channel captures by itself. No note on the order.
SILENT = frozenset({AUTO_CAPTURE_CHANNEL})


@dataclass(frozen=True)
class Rejection:
    code: str
    text: str

    def __post_init__(self) -> None:
        assert self.code in CODES, self.code
