"""The integer SQL of the exponent checks agrees with ``money.e8_to_minor`` (half-even), on the
engine-independent SQL run by SQLite in memory: ties both ways, negatives, 0/2/3/4 decimals."""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from checkout_freshportal.money import e8_to_minor
from checkout_freshportal.reconcile.quality.sqlparts import divisor, e8_to_minor_sql, minor_mismatch

CURRENCIES = ("EUR", "JPY", "KWD", "CLF", "XXX")  # XXX: no minor unit, treated as 2 decimals
# around ties of every exponent: .5 of a minor unit below/above/at, even and odd quotients
VALUES = sorted(
    {
        sign * (base + delta)
        for sign in (1, -1)
        for base in (
            0,
            5_000,
            15_000,
            50_000,
            150_000,
            500_000,
            1_500_000,
            2_500_000,
            50_000_000,
            150_000_000,
        )
        for delta in (-1, 0, 1)
    }
)


def _engine() -> sa.Engine:
    return sa.create_engine("sqlite://")


def test_rounding_matches_money_module() -> None:
    engine = _engine()
    with engine.connect() as conn:
        for value, ccy in itertools.product(VALUES, CURRENCIES):
            code = ccy
            literal = f"'{code}'"
            sql = f"SELECT {e8_to_minor_sql(str(value), literal)}"
            got = conn.execute(sa.text(sql)).scalar_one()
            want = e8_to_minor(value, code) if code != "XXX" else e8_to_minor(value, "EUR")
            assert got == want, (value, code)


def test_mismatch_is_true_only_for_a_wrong_minor() -> None:
    engine = _engine()
    with engine.connect() as conn:
        for value, code in itertools.product(VALUES, ("EUR", "JPY", "KWD")):
            right = e8_to_minor(value, code)
            for minor, wrong in ((right, False), (right + 1, True), (right - 1, True)):
                d = divisor(f"'{code}'")
                sql = f"SELECT {minor_mismatch(str(value), str(minor), d)}"
                assert bool(conn.execute(sa.text(sql)).scalar_one()) is wrong, (value, code, minor)
        assert conn.execute(sa.text(f"SELECT {minor_mismatch('NULL', '5', '100')}")).scalar_one() == 1
        assert conn.execute(sa.text(f"SELECT {minor_mismatch('NULL', 'NULL', '100')}")).scalar_one() is None
