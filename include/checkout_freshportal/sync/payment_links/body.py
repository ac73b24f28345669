"""What a payment-link intent is called and what its ``POST /payment-links`` body says.

Pure functions, no I/O: the ids and the idempotency key are *derived* from the order id and
the order version, so a rerun that lost everything but the database still computes the same
ones; the body is derived from a fresh read of the FreshPortal order (the warehouse keeps no
e-mail or street address, Checkout.com needs them for the hosted page and the receipt).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from checkout_freshportal.freshportal.models import Order, OrderLine
from checkout_freshportal.money import exponent
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings

#: Checkout.com field limits (docs/checkout-com.md#payment-links).
MAX_REFERENCE = 50
MAX_DESCRIPTION = 100
MAX_PRODUCT_NAME = 100
_RENEWAL_SUFFIX = re.compile(r"-r(\d+)$")


class LinkDataError(ValueError):
    """The order cannot become a valid link request (a data problem to fix in FreshPortal).

    ``code`` is short and carries no personal data; it is what ``last_error`` records.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class IntentKey:
    """The identity of one payment request: an order at one price, and which renewal of it."""

    order_id: str
    order_version: str

    @property
    def intent_id(self) -> str:
        return intent_id_for(self.order_id, self.order_version)

    @property
    def idempotency_key(self) -> str:
        return idempotency_key_for(self.order_id, self.order_version)


def base_version(fp_version: int | None, currency: str, amount_minor: int, fallback: int = 0) -> str:
    """``v<FreshPortal version>-<currency>-<amount_minor>``: readable, and unique per price change.

    The FreshPortal version alone cannot be the key: our own write-back bumps it, which would
    ask for a new link after every write. The version *at which a price was first asked* can:
    a later change back to an earlier price happens at a higher version and gets a new key.
    ``fallback`` (the order's intent count) stands in when a tenant sends no version.
    """
    version = f"v{fp_version}" if fp_version is not None else f"n{fallback}"
    return f"{version}-{currency}-{amount_minor}"


def with_renewal(base: str, renewal_no: int) -> str:
    return base if renewal_no == 0 else f"{base}-r{renewal_no}"


def strip_renewal(order_version: str) -> str:
    return _RENEWAL_SUFFIX.sub("", order_version)


def intent_id_for(order_id: str, order_version: str) -> str:
    digest = hashlib.sha256(f"freshportal-payment-link|{order_id}|{order_version}".encode()).hexdigest()
    return f"pli_{digest[:24]}"


def idempotency_key_for(order_id: str, order_version: str) -> str:
    """``cfp-pl-<order id>-<order version>`` (single line, well under Checkout's 255 chars)."""
    key = f"cfp-pl-{order_id}-{order_version}"
    if len(key) > 255 or any(c in key for c in "\r\n"):
        key = "cfp-pl-" + hashlib.sha256(key.encode()).hexdigest()
    return key


def link_body(order: Order, key: IntentKey, settings: PaymentRequestSettings) -> dict[str, Any]:
    """The ``POST /payment-links`` request for ``order`` under intent ``key``.

    Raises :class:`LinkDataError` for what Checkout.com would refuse (no billing country, a
    reference over 50 characters, a non-positive amount), so no request is wasted on it.
    """
    if order.amount_minor < 1:
        raise LinkDataError("amount_not_positive", f"order {order.order_id}: amount must be >= 1 minor unit")
    if len(order.order_number) > MAX_REFERENCE:
        raise LinkDataError(
            "reference_too_long", f"order {order.order_id}: order number longer than {MAX_REFERENCE}"
        )
    address = order.billing_address
    country = (address.country if address else None) or order.customer.country
    if not country or len(country) != 2:
        raise LinkDataError("billing_country_missing", f"order {order.order_id}: no billing country")
    billing_address: dict[str, Any] = {"country": country.upper()}
    if address is not None:
        for ours, theirs in (
            ("line1", "address_line1"),
            ("line2", "address_line2"),
            ("city", "city"),
            ("postal_code", "zip"),
        ):
            value = getattr(address, ours)
            if value:
                billing_address[theirs] = value
    body: dict[str, Any] = {
        "amount": order.amount_minor,
        "currency": order.currency,
        "reference": order.order_number,
        "description": settings.description.format(order_number=order.order_number)[:MAX_DESCRIPTION],
        "expires_in": settings.expires_in_seconds,
        "billing": {"address": billing_address},
        "products": products(order, settings.max_products),
        "metadata": {
            "freshportal_order_id": order.order_id,
            "order_version": key.order_version,
            "intent_id": key.intent_id,
        },
    }
    customer = {k: v for k, v in (("email", order.customer.email), ("name", order.customer.name)) if v}
    if customer:
        body["customer"] = customer
    for name in ("display_name", "return_url", "locale", "capture"):
        value = getattr(settings, name)
        if value is not None:
            body[name] = value
    return body


def products(order: Order, max_products: int) -> list[dict[str, Any]]:
    """Order lines as Checkout.com products (``price`` in minor units per unit).

    A line is sent as ``quantity x unit price`` when both are exact in the currency's minor
    unit and multiply to the line total; otherwise (a rose at 0.345 EUR) as one unit at the
    line total. When the lines do not add up to the order amount, carry a negative line (a
    price adjustment) or are too many, one summary product stands for the order: the amount
    is what is charged, the products are only shown to the customer.
    """
    summary = [
        {"name": f"Order {order.order_number}"[:MAX_PRODUCT_NAME], "quantity": 1, "price": order.amount_minor}
    ]
    lines = order.lines
    if not lines or len(lines) > max_products:
        return summary
    totals = [line.line_total_minor for line in lines]
    if (
        any(t is None or t < 0 for t in totals)
        or sum(t for t in totals if t is not None) != order.amount_minor
    ):
        return summary
    return [_product(line, order.currency) for line in lines]


def _product(line: OrderLine, currency: str) -> dict[str, Any]:
    total = line.line_total_minor or 0
    name = (line.description or line.product_code or "Item")[:MAX_PRODUCT_NAME]
    out: dict[str, Any] = {"name": name, "quantity": 1, "price": total}
    qty, price = line.quantity, line.unit_price
    if qty is not None and price is not None and qty > 0 and qty == qty.to_integral_value():
        unit_minor = price * (Decimal(10) ** exponent(currency))
        if unit_minor == unit_minor.to_integral_value() and int(qty) * int(unit_minor) == total:
            out.update(quantity=int(qty), price=int(unit_minor))
    if line.product_code:
        out["reference"] = line.product_code[:MAX_PRODUCT_NAME]
    return out
