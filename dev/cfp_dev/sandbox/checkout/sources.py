"""Payment sources other than a plain card, as the real API renders them (docs/checkout-com.md#payments).

FreshPortal's customers also pay with wallets and local methods: Apple Pay and Google Pay
arrive as tokens that resolve to a card (so card fields are present, under another
``source.type``), PayPal and iDEAL (EUR only) carry no card at all. The client must store what
it gets without expecting ``type: "card"``, so a share of generated payments uses them; which
ones is derived from the payment id, so adding this drew nothing from the world's RNG streams.
Internally every payment keeps a :class:`~.model.Card` (fees, regions and search read it);
only the rendered ``source`` differs.
"""

from __future__ import annotations

from typing import Any

from .ids import derived_digits, derived_share
from .model import Payment

#: Source types the sandbox renders; ``card`` is the default.
SOURCE_TYPES = ("card", "applepay", "googlepay", "paypal", "ideal")
#: Wallet tokens resolve to a card: their ``source`` carries the card's fields.
CARD_BACKED = frozenset({"card", "applepay", "googlepay"})
_IDEAL_BICS = ("INGBNL2A", "RABONL2U", "ABNANL2A", "SNSBNL2A")


def source_type_for(payment_id: str, currency: str) -> str:
    """About 4 % Apple Pay, 4 % Google Pay, 3 % PayPal and (EUR only) 6 % iDEAL."""
    r = derived_share(payment_id + ":source")
    if r < 0.04:
        return "applepay"
    if r < 0.08:
        return "googlepay"
    if r < 0.11:
        return "paypal"
    if r < 0.17 and currency == "EUR":
        return "ideal"
    return "card"


def source_type_for_token(token: str) -> str:
    """What a ``tok_`` source turns out to be: a third Apple Pay, a third Google Pay, a third a
    card tokenized by Frames. The token id alone decides (the sandbox has no tokenization
    endpoint to remember where a token came from), so a client cannot expect ``card``."""
    r = derived_share(token + ":wallet")
    return "applepay" if r < 1 / 3 else "googlepay" if r < 2 / 3 else "card"


def source_allowed(source_type: str, currency: str) -> bool:
    return source_type in SOURCE_TYPES and (source_type != "ideal" or currency == "EUR")


def render_source(p: Payment, *, webhook: bool = False) -> dict[str, Any]:
    """``source`` of a payment; webhooks spell the card's last digits ``last_4``.

    A wallet payment shows the card its token resolved to under ``type: "applepay"`` /
    ``"googlepay"``; PayPal and iDEAL show no card fields.
    """
    kind = p.source_type
    if kind == "paypal":
        return {"type": "paypal"}
    if kind == "ideal":
        bic = _IDEAL_BICS[int(derived_digits(p.id + ":bic", 1)) % len(_IDEAL_BICS)]
        return {"type": "ideal", "bic": bic, "description": p.reference or "FreshPortal order"}
    card = p.card
    out: dict[str, Any] = {
        "id": card.source_id,
        "type": kind,
        "expiry_month": card.expiry_month,
        "expiry_year": card.expiry_year,
        "name": card.name,
        "scheme": card.scheme,
        ("last_4" if webhook else "last4"): card.last4,
        "fingerprint": card.fingerprint,
        "bin": card.bin,
        "card_type": card.card_type,
        "card_category": card.card_category,
        "issuer_country": card.issuer_country,
        "product_type": card.product_type,
        "avs_check": "G",
        "cvv_check": "Y",
    }
    return {k: v for k, v in out.items() if v is not None}
