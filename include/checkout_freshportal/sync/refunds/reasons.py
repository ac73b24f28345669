"""The stable reason codes a refund request can be answered with, and their texts.

Codes are an interface: FreshPortal users, finance reports and reconciliation read them, so a
code is never renamed or reused (docs/refunds.md#reason-codes). Texts carry amounts and ids,
never card or personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

PAYMENT_NOT_FOUND = "payment_not_found"
CURRENCY_MISMATCH = "currency_mismatch"
INVALID_AMOUNT = "invalid_amount"
AMOUNT_EXCEEDS_REFUNDABLE = "amount_exceeds_refundable"
PAYMENT_NOT_CAPTURED = "payment_not_captured"
VOID_NOT_ALLOWED = "void_not_allowed"
DUPLICATE_REQUEST = "duplicate_request"
REFUSED_BY_CHECKOUT = "refused_by_checkout"
DECLINED = "declined"

CODES = (
    PAYMENT_NOT_FOUND,
    CURRENCY_MISMATCH,
    INVALID_AMOUNT,
    AMOUNT_EXCEEDS_REFUNDABLE,
    PAYMENT_NOT_CAPTURED,
    VOID_NOT_ALLOWED,
    DUPLICATE_REQUEST,
    REFUSED_BY_CHECKOUT,
    DECLINED,
)


@dataclass(frozen=True)
class Rejection:
    code: str
    text: str

    def __post_init__(self) -> None:
        assert self.code in CODES, self.code

    @property
    def failure_reason(self) -> str:
        """What FreshPortal's ``failure_reason`` gets: the code first, then the sentence."""
        return f"{self.code}: {self.text}"
