"""Test cards, response codes and card details derived from a card number
(docs/checkout-com.md#sandbox-test-data)."""

from __future__ import annotations

import hashlib

from .model import Card

APPROVED = ("10000", "Approved")

#: Gateway response codes the sandbox produces, with their summaries (docs/checkout-com.md#response-codes).
RESPONSE_SUMMARIES: dict[str, str] = {
    "10000": "Approved",
    "20001": "Refer to card issuer",
    "20005": "Declined - Do Not Honour",
    "20012": "Invalid Transaction",
    "20014": "Invalid Card Number",
    "20051": "Insufficient Funds",
    "20054": "Expired Card",
    "20057": "Transaction not permitted to cardholder",
    "20059": "Suspected Fraud",
    "20061": "Activity Amount Limit Exceeded",
    "20062": "Restricted Card",
    "20063": "Security Violation",
    "20068": "Response Received Too Late",
    "20078": "Blocked, first used",
    "20087": "Bad Track Data",
    "20153": "3DS System Malfunction",
    "20154": "3DS Authentication Required",
    "200N7": "Decline for CVV2 failure",
    "200R1": "Issuer initiated a stop payment (revocation order) for this authorization",
    "200R3": "Revocation of all authorizations order",
    "30033": "Expired Card - Pick Up",
    "30041": "Lost Card - Pick Up",
    "40101": "Risk Blocked Transaction",
    "40108": "Risk Blocked Transaction",
}

#: NAS sandbox decline cards (docs/checkout-com.md#sandbox-test-data).
DECLINE_CARDS: dict[str, str] = {
    "4111111111111129": "20001",
    "4024007103573027": "20012",
    "4485381577182090": "20014",
    "4544249167673670": "20051",
    "4724117215951699": "20054",
    "4151512736305999": "20057",
    "4897453568485113": "20059",
    "4556294593757189": "20061",
    "4818924250131070": "20062",
    "4556253752712245": "20063",
    "4095254802642505": "20068",
    "4532819413487978": "20078",
    "4734868958733862": "200N7",
    "4567361325981788": "200R3",
}

DISPUTE_TRIGGER_CARD = "4242424242424242"
DISPUTE_TRIGGER_AMOUNT = 1040


def summary(code: str) -> str:
    return RESPONSE_SUMMARIES.get(code, "Declined")


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def scheme_of(number: str) -> str:
    if number.startswith(("34", "37")):
        return "American Express"
    if number[:2] in {"51", "52", "53", "54", "55"} or (
        number[:4].isdigit() and 2221 <= int(number[:4]) <= 2720
    ):
        return "Mastercard"
    if number.startswith("4"):
        return "Visa"
    return "Visa"


def card_from_number(
    number: str,
    expiry_month: int,
    expiry_year: int,
    source_id: str,
    name: str | None = None,
    issuer_country: str = "GB",
) -> Card:
    """Card details as the gateway would return them; the number itself is never kept."""
    fingerprint = hashlib.sha256(number.encode()).hexdigest()[:64].upper()
    scheme = scheme_of(number)
    return Card(
        scheme=scheme,
        bin=number[:6],
        last4=number[-4:],
        expiry_month=expiry_month,
        expiry_year=expiry_year,
        card_type="CREDIT",
        card_category="CONSUMER",
        issuer_country=issuer_country,
        product_type="Visa Traditional" if scheme == "Visa" else scheme,
        fingerprint=fingerprint,
        source_id=source_id,
        name=name,
    )
