"""Which Checkout.com payment a release captures, and the port the capture steps use.

The order's payments come from the warehouse (by FreshPortal order id or order number, as for
refunds) or, when it knows none, from Checkout.com by reference. Each candidate is read fresh
(``GET /payments/{id}``) -- balances and expiry must be Checkout.com's now, not the warehouse's
-- until one can take a capture in the release's currency; usually the first one can, so a
release costs one read. When none can, the first one read is returned so the rejection names
the real reason (expired, nothing left, another currency).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.checkout.models import answer_balance
from checkout_freshportal.sync.intents.store import MoneyIntent
from checkout_freshportal.sync.refunds.payments import api_candidates, warehouse_candidates

#: Reads spent on one release at most: an order rarely has more than a retry or two.
MAX_CANDIDATES = 3


class CheckoutCaptures(Protocol):
    def get_payment(self, payment_id: str) -> Mapping[str, Any]: ...
    def get_payment_actions(self, payment_id: str) -> list[Any]: ...
    def list_payments_by_reference(self, reference: str, limit: int = ...) -> Iterator[dict]: ...
    def capture_payment(
        self, payment_id: str, body: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> Any: ...


def _eligible(payment: Mapping[str, Any], currency: str) -> bool:
    return (
        payment.get("approved") is not False
        and str(payment.get("currency") or "").upper() == currency.upper()
    )


def _may_capture(payment: Mapping[str, Any], currency: str) -> bool:
    """Eligible, and what it can still capture unknown."""
    return _eligible(payment, currency) and answer_balance(payment, "available_to_capture") is None


def _capturable(payment: Mapping[str, Any], currency: str) -> bool:
    return _eligible(payment, currency) and (answer_balance(payment, "available_to_capture") or 0) > 0


def find_payment(
    cko: CheckoutCaptures, engine: Engine, intent: MoneyIntent
) -> tuple[Mapping[str, Any] | None, bool]:
    """(the payment to capture or to explain, looked up by reference?)."""
    with engine.connect() as conn:
        candidates = warehouse_candidates(
            conn, order_id=intent.order_id, order_number=intent.order_number, currency=intent.currency
        )
    by_reference = not candidates
    if by_reference:
        candidates = api_candidates(cko, intent.order_number, intent.currency)  # type: ignore[arg-type]
    first: Mapping[str, Any] | None = None
    unknown: Mapping[str, Any] | None = None  # one that may still capture: its answer did not say
    for payment_id in candidates[:MAX_CANDIDATES]:
        try:
            payment = cko.get_payment(payment_id)
        except cko_errors.NotFoundError:
            continue
        if _capturable(payment, intent.currency):
            return payment, by_reference
        first = first or payment
        if unknown is None and _may_capture(payment, intent.currency):
            unknown = payment
    # a payment whose answer lacked its balances makes the release wait (validate.decide), where
    # a captured sibling read first would have refused it for good as nothing to capture
    return unknown or first, by_reference
