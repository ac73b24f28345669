"""Typed helpers over the API's JSON: balances, next links, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checkout_freshportal.checkout import Balances, BalancesError, next_href, parse_ts, payment_balances


def test_balances_from_payment_and_missing_fields() -> None:
    payment = {
        "id": "pay_1",
        "balances": {"total_authorized": 6540, "total_captured": 6540, "available_to_refund": 6540, "x": 1},
    }
    b = payment_balances(payment)
    assert b == Balances(total_authorized=6540, total_captured=6540, available_to_refund=6540)
    assert b.as_dict()["total_voided"] == 0
    assert payment_balances({"id": "pay_2", "status": "Declined"}) == Balances()
    assert payment_balances({"id": "pay_3", "balances": None}) == Balances()
    assert payment_balances(None) == Balances()
    # a bare balances mapping (webhook data.balances) works too
    assert payment_balances({"total_refunded": 5}).total_refunded == 5


@pytest.mark.parametrize("bad", [10.0, "100", True, 10.5])
def test_non_integer_balance_is_refused_with_field_name(bad: object) -> None:
    with pytest.raises(BalancesError, match=r"balances\.total_captured of pay_9"):
        payment_balances({"id": "pay_9", "balances": {"total_captured": bad}})


def test_balances_not_an_object() -> None:
    with pytest.raises(BalancesError):
        payment_balances({"balances": [1, 2]})


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ({"_links": {"next": {"href": "https://x/next?token=a"}}}, "https://x/next?token=a"),
        ({"_links": {"self": {"href": "s"}}}, None),
        ({"_links": {"next": {"href": ""}}}, None),
        ({"_links": {"next": None}}, None),
        ({"_links": []}, None),
        ({}, None),
        ([], None),
        (None, None),
    ],
)
def test_next_href(page: object, expected: str | None) -> None:
    assert next_href(page) == expected


def test_parse_ts_reexport_seven_digits() -> None:
    assert parse_ts("2023-05-24T09:12:27.4695512Z") == datetime(2023, 5, 24, 9, 12, 27, 469551, tzinfo=UTC)
