"""What a refund request becomes against a ``GET /payments/{id}`` answer (pure, no servers).

The answer's balances decide; where it does not carry them, the request waits for an answer
that does instead of being refused for good on a guessed 0 (docs/refunds.md "Validation")."""

from __future__ import annotations

from typing import Any

import pytest

from checkout_freshportal.sync.intents.store import REFUND, VOID
from checkout_freshportal.sync.refunds import reasons, validate
from checkout_freshportal.sync.refunds.reasons import Rejection

CAPTURED = {
    "total_authorized": 10_000,
    "total_voided": 0,
    "available_to_void": 0,
    "total_captured": 10_000,
    "available_to_capture": 0,
    "total_refunded": 2_000,
    "available_to_refund": 8_000,
}


def payment(status: str = "Partially Refunded", balances: Any = CAPTURED, **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"id": "pay_v", "approved": True, "status": status, "currency": "EUR"}
    if balances is not None:
        p["balances"] = balances
    p.update(over)
    return p


def decide(amount: int, pay: dict[str, Any], *, allow_voids: bool = True) -> Any:
    return validate.decide(amount_minor=amount, currency="EUR", payment=pay, allow_voids=allow_voids)


def test_the_answers_balances_decide() -> None:
    assert decide(8_000, payment()) == validate.Movement(REFUND, 8_000)
    over = decide(8_001, payment())
    assert isinstance(over, Rejection)
    assert over.code == reasons.AMOUNT_EXCEEDS_REFUNDABLE


def test_available_to_refund_left_out_is_captured_less_refunded() -> None:
    balances = {k: v for k, v in CAPTURED.items() if k != "available_to_refund"}
    assert decide(8_000, payment(balances=balances)) == validate.Movement(REFUND, 8_000)
    over = decide(8_001, payment(balances=balances))
    assert isinstance(over, Rejection)
    assert over.code == reasons.AMOUNT_EXCEEDS_REFUNDABLE


@pytest.mark.parametrize(
    "balances",
    [
        None,  # no balances at all
        {},
        {"total_authorized": 10_000, "available_to_refund": 8_000},  # captured unknown
        {**CAPTURED, "total_captured": "10000"},  # not an amount
        {**CAPTURED, "available_to_refund": None, "total_refunded": None},  # refundable unknown
    ],
)
def test_a_captured_payment_whose_answer_lacks_its_balances_waits(balances: Any) -> None:
    """Read as 0 these were refused for good ("not captured", "exceeds the refundable 0.00")
    and the refusal was written back to FreshPortal."""
    result = decide(5_000, payment(status="Captured", balances=balances))
    assert isinstance(result, validate.Wait), result
    assert "pay_v" in result.why


def test_an_authorisation_whose_voidable_amount_is_unknown_waits() -> None:
    balances = {"total_authorized": 10_000, "total_captured": 0}
    assert isinstance(decide(10_000, payment(status="Authorized", balances=balances)), validate.Wait)
    known = {**balances, "available_to_void": 10_000}
    assert decide(10_000, payment(status="Authorized", balances=known)) == validate.Movement(VOID, 10_000)


@pytest.mark.parametrize("status", ["Card Verified", "Declined", "Canceled", "Voided", "pending"])
def test_a_status_on_which_no_money_moved_needs_no_balances(status: str) -> None:
    result = decide(5_000, payment(status=status, balances=None))
    assert isinstance(result, Rejection), result
    assert result.code == reasons.PAYMENT_NOT_CAPTURED


def test_an_authorised_payment_without_balances_is_not_captured() -> None:
    """Authorized means nothing captured: without voids nothing can answer the request, so it is
    refused rather than waiting for ever; with voids, what can be voided must be known."""
    pay = payment(status="Authorized", balances=None)
    result = decide(5_000, pay, allow_voids=False)
    assert isinstance(result, Rejection)
    assert result.code == reasons.VOID_NOT_ALLOWED
    assert isinstance(decide(5_000, pay, allow_voids=True), validate.Wait)
