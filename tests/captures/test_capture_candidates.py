"""Which payment a release is decided against, when a candidate's answer lacks its balances.

Checkout.com's answers are given here as documented shapes (a captured payment with its
balances, an authorised one without): the choice is the product's, the warehouse is real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from checkout_freshportal.sync.captures import validate
from checkout_freshportal.sync.captures.payments import find_payment
from checkout_freshportal.warehouse import make_engine

CAPTURED = {
    "id": "pay_done",
    "approved": True,
    "status": "Captured",
    "currency": "EUR",
    "balances": {"total_authorized": 5_000, "total_captured": 5_000, "available_to_capture": 0},
}
UNSAID = {"id": "pay_open", "approved": True, "status": "Authorized", "currency": "EUR"}


class Answers:
    def __init__(self, *payments: dict[str, Any]) -> None:
        self.payments = {p["id"]: p for p in payments}

    def list_payments_by_reference(self, reference: str, limit: int = 10) -> Iterator[dict[str, Any]]:
        yield from self.payments.values()

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        return self.payments[payment_id]


def test_a_payment_that_may_still_capture_is_preferred_to_a_captured_sibling(
    migrated_sqlite_url: str,
) -> None:
    """Read first, the captured sibling made the release 'nothing to capture' for good; the
    authorised payment whose answer lacked its balances makes it wait for the next read."""
    engine = make_engine(migrated_sqlite_url)
    intent = SimpleNamespace(order_id="o1", order_number="FP-1", currency="EUR")
    try:
        payment, by_reference = find_payment(Answers(CAPTURED, UNSAID), engine, intent)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert by_reference
    assert payment is not None
    assert payment["id"] == "pay_open"
    decision = validate.decide(
        amount_minor=1_000,
        currency="EUR",
        final=False,
        payment=payment,
        now=datetime.now(UTC),
        is_manual=lambda _channel: True,
    )
    assert isinstance(decision, validate.Wait)
