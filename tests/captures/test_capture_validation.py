"""Each validation case of a release gives its documented reason code (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checkout_freshportal.sync.captures import reasons, validate
from checkout_freshportal.sync.captures.reasons import Rejection
from checkout_freshportal.sync.captures.settings import CaptureSettings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MANUAL = "pc_manual"
SETTINGS = CaptureSettings.from_mapping({"manual_capture_channels": [MANUAL]})


def payment(**over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": "pay_x",
        "approved": True,
        "status": "Authorized",
        "currency": "EUR",
        "processing_channel_id": MANUAL,
        "expires_on": (NOW + timedelta(days=3)).isoformat(),
        "balances": {"total_authorized": 10_000, "available_to_capture": 10_000, "total_captured": 0},
    }
    p.update(over)
    return p


def decide(amount: int = 4_000, *, pay: dict[str, Any] | None = None, final: bool = False, **kw: Any):
    return validate.decide(
        amount_minor=amount,
        currency="EUR",
        final=final,
        payment=payment() if pay is None else pay,
        now=NOW,
        is_manual=kw.pop("is_manual", SETTINGS.is_manual),
        **kw,
    )


def code(result: object) -> str:
    assert isinstance(result, Rejection), result
    return result.code


def test_a_valid_release_is_a_capture_of_its_amount_and_finality() -> None:
    assert decide(4_000, final=True) == validate.Capture(4_000, True)
    assert decide(10_000) == validate.Capture(10_000, False)


@pytest.mark.parametrize(
    ("amount", "pay", "expected"),
    [
        (0, None, reasons.INVALID_AMOUNT),
        (-5, None, reasons.INVALID_AMOUNT),
        (100, {"approved": False}, reasons.PAYMENT_NOT_FOUND),
        (100, {"currency": "GBP"}, reasons.CURRENCY_MISMATCH),
        (100, {"processing_channel_id": "pc_other"}, reasons.AUTO_CAPTURE_CHANNEL),
        (100, {"processing_channel_id": None}, reasons.AUTO_CAPTURE_CHANNEL),
        (100, {"status": "Expired", "balances": {"available_to_capture": 0}}, reasons.AUTHORIZATION_EXPIRED),
        (100, {"expires_on": (NOW - timedelta(seconds=1)).isoformat()}, reasons.AUTHORIZATION_EXPIRED),
        (
            100,
            {
                "status": "Partially Captured",
                "expires_on": (NOW - timedelta(days=1)).isoformat(),
                "balances": {"available_to_capture": 0, "total_captured": 500},
            },
            reasons.AUTHORIZATION_EXPIRED,
        ),
        (100, {"status": "Captured", "balances": {"available_to_capture": 0}}, reasons.NOTHING_TO_CAPTURE),
        (
            100,
            {
                "status": "Captured",
                "expires_on": (NOW - timedelta(days=1)).isoformat(),
                "balances": {"available_to_capture": 0},
            },
            reasons.NOTHING_TO_CAPTURE,
        ),
        (10_001, None, reasons.AMOUNT_EXCEEDS_CAPTURABLE),
    ],
)
def test_each_case_gives_its_reason(amount: int, pay: dict[str, Any] | None, expected: str) -> None:
    assert code(decide(amount, pay=None if pay is None else payment(**pay))) == expected


def test_no_payment_is_payment_not_found() -> None:
    result = validate.decide(
        amount_minor=100, currency="EUR", final=False, payment=None, now=NOW, is_manual=SETTINGS.is_manual
    )
    assert code(result) == reasons.PAYMENT_NOT_FOUND


def test_capture_all_authorised_ignores_the_channel() -> None:
    anything = CaptureSettings.from_mapping({"capture_all_authorised": True})
    assert decide(100, pay=payment(processing_channel_id=None), is_manual=anything.is_manual) == (
        validate.Capture(100, False)
    )


def test_captures_still_landing_make_a_release_wait_not_fail() -> None:
    assert isinstance(decide(7_000, in_flight_minor=4_000), validate.Wait)
    assert decide(6_000, in_flight_minor=4_000) == validate.Capture(6_000, False)


def test_every_code_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "captures.md").read_text()
    for c in reasons.CODES:
        assert f"`{c}`" in doc, c


@pytest.mark.parametrize(
    "balances",
    [None, {}, {"total_authorized": 10_000}, {"available_to_capture": "10000"}, {"available_to_capture": -1}],
)
def test_an_answer_that_does_not_say_what_can_be_captured_waits(balances: Any) -> None:
    """Read as 0 this was "nothing to capture", refused for good and reported on the order."""
    pay = payment()
    if balances is None:
        del pay["balances"]
    else:
        pay["balances"] = balances
    result = decide(4_000, pay=pay)
    assert isinstance(result, validate.Wait), result
    # an authorisation past its expiry is refused whatever its balances say
    pay["expires_on"] = (NOW - timedelta(seconds=1)).isoformat()
    assert code(decide(4_000, pay=pay)) == reasons.AUTHORIZATION_EXPIRED


def test_a_status_on_which_no_money_moved_is_nothing_to_capture_without_balances() -> None:
    pay = payment(status="Card Verified")
    del pay["balances"]
    assert code(decide(4_000, pay=pay)) == reasons.NOTHING_TO_CAPTURE
