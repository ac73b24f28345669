"""money.py: exponents, exact conversions and the ROUND_HALF_EVEN rule (docs/money.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iso4217 import Currency

from checkout_freshportal import money


@pytest.mark.parametrize(
    ("currency", "exp"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("EUR", 2),
        ("usd", 2),
        ("GBP", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
        ("CLF", 4),
    ],
)
def test_exponents_come_from_iso4217(currency: str, exp: int) -> None:
    assert money.exponent(currency) == exp


def test_recently_withdrawn_codes_are_accepted_for_older_payments() -> None:
    """The iso4217 package lists active codes only: a kuna payment from before Croatia adopted
    the euro (2023) failed its mapping, quarantining the payment."""
    from checkout_freshportal.warehouse.mappers import payment_row

    assert money.exponent("hrk") == 2
    assert money.to_minor(Decimal("12.34"), "HRK") == 1234
    assert money.known_currencies()["HRK"] == 2
    assert money.known_currencies()["EUR"] == 2
    row = payment_row(
        {"id": "pay_kuna", "status": "Captured", "amount": 1234, "currency": "HRK",
         "requested_on": "2022-11-02T10:00:00Z"}
    )  # fmt: skip
    assert (row["currency"], row["amount_minor"]) == ("HRK", 1234)
    for code in money.WITHDRAWN_CURRENCIES:  # never one the package lists as active
        with pytest.raises(ValueError, match="not a valid Currency"):
            Currency(code)


@pytest.mark.parametrize("code", ["XXX1", "", "EU", "ZZZ", "XAU", "XDR", None])
def test_unknown_or_non_payable_currency_is_refused(code: str | None) -> None:
    with pytest.raises(money.UnknownCurrencyError):
        money.exponent(code)  # type: ignore[arg-type]
    assert not money.is_currency(code or "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1", "JPY", 1),
        ("1000", "JPY", 1000),
        ("12.34", "EUR", 1234),
        ("-12.34", "EUR", -1234),
        ("0.01", "EUR", 1),
        ("1.234", "KWD", 1234),
        ("-0.001", "BHD", -1),
        (Decimal("99.99"), "USD", 9999),
        (7, "EUR", 700),
    ],
)
def test_to_minor_exact_per_exponent_class(amount, currency: str, minor: int) -> None:
    assert money.to_minor(amount, currency) == minor
    assert money.to_minor_exact(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        # ties go to the even neighbour, in both signs and every exponent class
        ("0.005", "EUR", 0),
        ("0.015", "EUR", 2),
        ("0.025", "EUR", 2),
        ("-0.005", "EUR", 0),
        ("-0.015", "EUR", -2),
        ("0.5", "JPY", 0),
        ("1.5", "JPY", 2),
        ("2.5", "JPY", 2),
        ("-2.5", "JPY", -2),
        ("0.0005", "KWD", 0),
        ("0.0015", "KWD", 2),
        # not ties: ordinary rounding
        ("0.00500001", "EUR", 1),
        ("0.00499999", "EUR", 0),
        ("-0.19526938", "USD", -20),
        ("2.50000001", "JPY", 3),
    ],
)
def test_to_minor_rounds_half_even(amount: str, currency: str, minor: int) -> None:
    assert money.to_minor(amount, currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [("0.005", "EUR"), ("1.5", "JPY"), ("1.0001", "KWD")])
def test_to_minor_exact_refuses_rounding(amount: str, currency: str) -> None:
    with pytest.raises(money.MoneyError, match="more decimals"):
        money.to_minor_exact(amount, currency)


@pytest.mark.parametrize(
    ("amount", "e8"),
    [
        ("0.19526938", 19_526_938),
        ("-0.00000001", -1),
        ("12.34", 1_234_000_000),
        ("92233720368.54775807", 2**63 - 1),
        ("1", 100_000_000),
        ("0", 0),
    ],
)
def test_to_e8_is_exact(amount: str, e8: int) -> None:
    assert money.to_e8(amount) == e8
    assert money.from_e8(e8) == Decimal(amount)


def test_to_e8_refuses_a_ninth_decimal() -> None:
    with pytest.raises(money.MoneyError, match="more than 8 decimals"):
        money.to_e8("0.123456789")


@pytest.mark.parametrize("huge", ["1e300000", "-1e300000", "1e17", "92233720368547758.08", "9.3e16"])
def test_amounts_beyond_a_bigint_are_refused_without_building_them(huge: str) -> None:
    """An exponent is read before int(): 1e300000 would otherwise take seconds per field."""
    for fn in (
        lambda: money.to_minor(huge, "EUR"),
        lambda: money.to_minor_exact(huge, "EUR"),
        lambda: money.to_e8(huge),
    ):
        with pytest.raises(money.MoneyError, match="beyond a 64-bit integer"):
            fn()


def test_the_bigint_edges_are_amounts() -> None:
    assert money.to_minor_exact("92233720368547758.07", "EUR") == 2**63 - 1
    assert money.to_minor_exact("-92233720368547758.08", "EUR") == -(2**63)
    assert money.to_minor("9223372036854775807", "JPY") == 2**63 - 1


@pytest.mark.parametrize("bad", [0.1, 1.0, True, float("nan")])
def test_floats_and_bools_are_refused_everywhere(bad) -> None:
    for fn in (
        lambda: money.to_minor(bad, "EUR"),
        lambda: money.to_e8(bad),
        lambda: money.parse_decimal(bad),
    ):
        with pytest.raises(money.MoneyError):
            fn()
    with pytest.raises(money.MoneyError):
        money.to_major(bad, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "abc", "1,5", "Infinity", "NaN", "1e"])
def test_non_amounts_are_refused(bad: str) -> None:
    with pytest.raises(money.MoneyError):
        money.parse_decimal(bad)


def test_to_major_and_format() -> None:
    assert money.to_major(1234, "EUR") == Decimal("12.34")
    assert str(money.to_major(5, "KWD")) == "0.005"
    assert str(money.to_major(5, "JPY")) == "5"
    assert money.format_major(-1, "usd") == "-0.01 USD"


def test_e8_to_minor_uses_the_same_rule() -> None:
    assert money.e8_to_minor(500_000, "EUR") == 0  # 0.005 -> 0.00
    assert money.e8_to_minor(1_500_000, "EUR") == 2  # 0.015 -> 0.02


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["JPY", "EUR", "KWD", "CLF"]))
def test_minor_major_round_trip(minor: int, currency: str) -> None:
    assert money.to_minor_exact(money.to_major(minor, currency), currency) == minor


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_e8_round_trip(e8: int) -> None:
    assert money.to_e8(money.from_e8(e8)) == e8


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=8, allow_nan=False, allow_infinity=False))
def test_to_minor_matches_decimal_quantize(amount: Decimal) -> None:
    from decimal import ROUND_HALF_EVEN

    expected = int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert money.to_minor(amount, "EUR") == expected
