"""Currencies and exact money arithmetic.

Every amount the project stores or compares is an ``int`` in the currency's minor unit, with the
ISO 4217 exponent taken from the ``iso4217`` package (JPY 0, EUR 2, KWD 3, ...). Checkout.com's
payment, dispute and balance APIs already speak minor units; its report CSVs and financial-action
breakdowns speak *major* units with up to 8 decimals, which we read as ``Decimal`` and convert here.

Rounding rule (documented in docs/money.md): a major-unit amount with more decimals than the
currency's exponent is rounded to the minor unit with ROUND_HALF_EVEN (banker's rounding), which
keeps sums of many fee lines unbiased. The exact value is kept alongside as an integer count of
1e-8 major units (``to_e8``), so nothing is lost and any other rounding can be re-derived.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

from .errors import PermanentError

#: Report amounts carry at most this many decimals; ``*_e8`` columns store them exactly.
EXACT_DECIMALS = 8
_E8 = Decimal(10) ** EXACT_DECIMALS


class MoneyError(PermanentError, ValueError):
    """An amount or currency that cannot be represented exactly (permanent: the same input fails again)."""


class UnknownCurrencyError(MoneyError):
    """A code that is not an active ISO 4217 currency with a minor unit."""


#: Codes ISO 4217 withdrew in recent years (its list of historic denominations), with their
#: minor units: the ``iso4217`` package lists active codes only, but a backfill or a report of
#: older payments still carries them (Croatia's HRK until 2023, for one) and must not fail.
WITHDRAWN_CURRENCIES: dict[str, int] = {
    "HRK": 2,  # Croatian kuna, replaced by EUR on 2023-01-01
    "SLL": 2,  # Sierra Leonean leone, redenominated as SLE (2022-2024)
    "ZWL": 2,  # Zimbabwe dollar, replaced by ZWG in 2024
    "CUC": 2,  # Cuban convertible peso, withdrawn 2021
    "VEF": 2,  # Venezuelan bolívar fuerte, redenominated as VES in 2018
    "MRO": 2,  # Mauritanian ouguiya, redenominated as MRU in 2018
    "STD": 2,  # São Tomé and Príncipe dobra, redenominated as STN in 2018
}


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 currency code (case-insensitive)."""
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise UnknownCurrencyError(f"not an ISO 4217 currency code: {currency!r}")
    try:
        cur = Currency(code)
    except ValueError:
        if code in WITHDRAWN_CURRENCIES:
            return WITHDRAWN_CURRENCIES[code]
        raise UnknownCurrencyError(f"unknown ISO 4217 currency: {code}") from None
    if cur.exponent is None:  # XAU, XDR, ... have no minor unit and are not payable
        raise UnknownCurrencyError(f"ISO 4217 code without a minor unit: {code}")
    return int(cur.exponent)


def is_currency(currency: str) -> bool:
    try:
        exponent(currency)
    except UnknownCurrencyError:
        return False
    return True


def known_currencies() -> dict[str, int]:
    """Every code :func:`exponent` accepts (ISO 4217's active codes with a minor unit and the
    recently withdrawn ones), mapped to its exponent."""
    active = {c.code: int(c.exponent) for c in Currency if c.exponent is not None}
    return {**WITHDRAWN_CURRENCIES, **active}


def parse_decimal(value: str | int | Decimal) -> Decimal:
    """Read a major-unit amount exactly; floats are refused, not rounded."""
    if isinstance(value, bool | float):
        raise MoneyError(f"refusing a float/bool as money: {value!r}")
    if isinstance(value, Decimal):
        dec = value
    else:
        text = str(value).strip().replace("\u2212", "-")
        if not text:
            raise MoneyError("empty amount")
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"not a decimal amount: {value!r}") from None
    if not dec.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return dec


#: A warehouse ``BIGINT`` (every ``*_minor`` and ``*_e8`` column): no amount outside it is stored.
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# 2**63 has 19 digits: a Decimal whose leading digit sits further left cannot be in range.
_MAX_ADJUSTED = 18


def bigint(dec: Decimal) -> int:
    """An integral ``Decimal`` as an ``int`` that a ``BIGINT`` column holds.

    ``int()`` of ``Decimal("1e300000")`` builds a 300,000-digit integer (seconds of CPU per
    field, from nine bytes of a payload); the exponent is checked first, so that costs nothing.
    """
    if dec.adjusted() > _MAX_ADJUSTED:
        raise MoneyError(f"{dec:.3e} is beyond a 64-bit integer")
    value = int(dec)
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise MoneyError(f"{value} is beyond a 64-bit integer")
    return value


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Major units (``Decimal``/str) to integer minor units, ROUND_HALF_EVEN past the exponent."""
    dec = parse_decimal(amount)
    scaled = dec.scaleb(exponent(currency))
    return bigint(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))


def to_minor_exact(amount: str | int | Decimal, currency: str) -> int:
    """Like :func:`to_minor` but refuses any amount that would need rounding."""
    dec = parse_decimal(amount)
    scaled = dec.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{dec} {currency} has more decimals than the currency allows")
    return bigint(scaled)


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units back to an exact major-unit ``Decimal`` (for display and CSVs)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor units must be int, got {type(minor).__name__}")
    exp = exponent(currency)
    return Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))


def to_e8(amount: str | int | Decimal) -> int:
    """Exact major-unit amount as an integer count of 1e-8 units; refuses more than 8 decimals."""
    dec = parse_decimal(amount)
    scaled = dec * _E8
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{dec} has more than {EXACT_DECIMALS} decimals")
    return bigint(scaled)


def from_e8(value: int) -> Decimal:
    return Decimal(value) / _E8


def e8_to_minor(value: int, currency: str) -> int:
    """An exact ``*_e8`` amount to minor units with the project's rounding rule."""
    return to_minor(from_e8(value), currency)


def format_major(minor: int, currency: str) -> str:
    """``1234, 'EUR'`` -> ``'12.34 EUR'``; for reports and logs."""
    return f"{to_major(minor, currency)} {currency.upper()}"
