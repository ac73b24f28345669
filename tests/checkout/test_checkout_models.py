"""Typed helpers over the API's JSON: balances, next links, timestamps, and the vocabulary's spellings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checkout_freshportal.checkout import (
    Balances,
    BalancesError,
    next_href,
    parse_ts,
    payment_balances,
    statuses,
)
from checkout_freshportal.checkout.models import balance_fields, parse_api_ts
from checkout_freshportal.checkout.statuses import BALANCE_FIELDS
from checkout_freshportal.timeutil import TimestampError


def test_balances_from_payment_and_a_missing_balance_is_unknown_never_zero() -> None:
    full = {name: 0 for name in BALANCE_FIELDS} | {"total_authorized": 6540, "total_captured": 6540}
    payment = {"id": "pay_1", "balances": {**full, "available_to_refund": 6540, "x": 1}}
    b = payment_balances(payment)
    assert b == Balances(total_authorized=6540, total_captured=6540, available_to_refund=6540)
    # a search result's partial balances are no snapshot: unknown fields are not zeros
    partial = {"id": "pay_4", "balances": {"total_authorized": 200, "total_captured": 150}}
    assert payment_balances(partial) is None
    assert payment_balances({"id": "pay_2", "status": "Declined"}) is None
    assert payment_balances({"id": "pay_3", "balances": None}) is None
    assert payment_balances(None) is None
    # a bare balances mapping (webhook data.balances) works too; available_to_refund is derived
    bare = {k: v for k, v in full.items() if k != "available_to_refund"} | {"total_refunded": 40}
    derived = payment_balances(bare)
    assert derived is not None
    assert derived.available_to_refund == 6540 - 40


def test_balance_fields_keep_what_was_sent_and_none_for_the_rest() -> None:
    fields = balance_fields({"total_authorized": 200, "total_captured": 150, "total_refunded": 50})
    assert fields == {
        "total_authorized": 200,
        "total_voided": None,
        "available_to_void": None,
        "total_captured": 150,
        "available_to_capture": None,
        "total_refunded": 50,
        "available_to_refund": None,
    }
    assert set(balance_fields(None).values()) == {None}
    with pytest.raises(BalancesError) as info:
        balance_fields({"total_voided": "0"}, owner="pay_5")
    assert info.value.field == "total_voided"
    assert "pay_5" in str(info.value)


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


@pytest.mark.parametrize(
    "text",
    [
        "2022-12-11T03:00:23.859192",  # a report's created_on (NODE reports.js)
        "2022-12-11T03:00:23.859192Z",
        "2022-12-11T03:00:23.8591920+00:00",
    ],
)
def test_api_timestamps_without_an_offset_are_utc(text: str) -> None:
    assert parse_api_ts(text) == datetime(2022, 12, 11, 3, 0, 23, 859192, tzinfo=UTC)


def test_parse_ts_still_refuses_an_unstated_zone_and_api_ts_refuses_garbage() -> None:
    with pytest.raises(TimestampError, match="without a UTC offset"):
        parse_ts("2022-12-11T03:00:23.859192")
    # the malformed stamps of search pseudo-actions (NODE searchPayment.js) stay errors
    for text in ("2023-08-25T14:15:24.3448464ZZ", "2023-08-24T14:15:3448464Z"):
        with pytest.raises(TimestampError):
            parse_api_ts(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("regular", "Regular"), ("MOTO", "MOTO"), ("moto", "MOTO"), ("pay_later", "PayLater"), ("Gift", "Gift")],
)
def test_payment_types_in_the_api_references_spelling(raw: str, expected: str) -> None:
    assert statuses.canonical_payment_type(raw) == expected
    assert statuses.canonical_payment_type("  ") is None


@pytest.mark.parametrize("raw", ["credit", "Credit", "CREDIT", " credit "])
def test_card_types_in_any_case_are_one_value(raw: str) -> None:
    assert statuses.canonical_card_type(raw) == "CREDIT"
    assert statuses.canonical_card_type("deferred_debit") == "DEFERRED DEBIT"


@pytest.mark.parametrize(
    ("approved", "status", "expected"),
    [
        (True, None, True),
        (False, "Approved", False),  # the flag, when sent, wins
        (None, "Approved", True),
        (None, "approved", True),
        (None, "Declined", False),
        (None, "Pending", None),
        (None, None, None),
        ("yes", "Pending", None),
    ],
)
def test_action_approval_from_the_flag_or_the_search_status(approved, status, expected) -> None:
    assert statuses.action_approved(approved, status) is expected
