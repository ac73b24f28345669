"""Small SQL pieces the report queries share, written once for SQLite and PostgreSQL.

Age buckets are computed by comparing a timestamp with bound instants (``as_of - 3 days``...),
not with date functions, so the same expression runs on both engines and uses the column's own
type conversion. Only whole-day differences need a dialect-specific expression (:func:`day_of`,
:func:`days_between`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from checkout_freshportal.money import UnknownCurrencyError, e8_to_minor, to_major

#: Age buckets finance uses for unmatched items: (label, lowest age in whole days).
AGE_BUCKETS: Final[tuple[tuple[str, int], ...]] = (("0-2", 0), ("3-7", 3), ("8-30", 8), (">30", 31))
BUCKET_LABELS: Final[tuple[str, ...]] = tuple(label for label, _ in AGE_BUCKETS)
#: e8 -> minor for a currency code ISO 4217 does not know: 2 decimals (shown as minor units).
UNKNOWN_EXPONENT: Final[int] = 8 - 2
SEVERITY_RANK: Final[dict[str, int]] = {"high": 0, "medium": 1, "low": 2, "info": 3}


def age_bucket(col: Any, as_of: datetime) -> ColumnElement[str]:
    """The age bucket of ``col`` at ``as_of``: age in whole days, 0-2 / 3-7 / 8-30 / >30.

    An item is ``0-2`` while it is less than 3 days old: ``col > as_of - 3 days``.
    """
    whens = [
        (col > as_of - timedelta(days=AGE_BUCKETS[i + 1][1]), sa.literal(label, sa.Text()))
        for i, (label, _) in enumerate(AGE_BUCKETS[:-1])
    ]
    return sa.case(*whens, else_=sa.literal(AGE_BUCKETS[-1][0], sa.Text()))


def bucket_of_days(days: int) -> str:
    """The bucket label of an age in whole days (Python side, for exported rows)."""
    label = AGE_BUCKETS[0][0]
    for name, low in AGE_BUCKETS:
        if days >= low:
            label = name
    return label


def severity_rank(col: Any) -> ColumnElement[int]:
    return sa.case(*[(col == k, v) for k, v in SEVERITY_RANK.items()], else_=9)


def day_of(col: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a UTC timestamp column (text ``YYYY-MM-DD`` on SQLite, a date on PG)."""
    if dialect == "sqlite":
        return sa.func.date(col)
    return sa.cast(sa.func.timezone("UTC", col), sa.Date())


def days_between(later_date: Any, earlier_ts: Any, dialect: str) -> ColumnElement[int]:
    """Whole days from the UTC day of timestamp ``earlier_ts`` to the date ``later_date``."""
    if dialect == "sqlite":
        diff = sa.func.julianday(later_date) - sa.func.julianday(sa.func.date(earlier_ts))
        return sa.cast(sa.func.round(diff), sa.Integer())
    return sa.cast(later_date - day_of(earlier_ts, dialect), sa.Integer())


def day_text(value: Any) -> str:
    """A day from :func:`day_of` as ``YYYY-MM-DD`` whatever the engine returned."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)[:10]


def minor_from_e8(total_e8: int | None, currency: str) -> int:
    """Σ of exact ``*_e8`` amounts to minor units, half-even (the payout tie-out's rounding)."""
    if not total_e8:
        return 0
    try:
        return e8_to_minor(int(total_e8), currency)
    except UnknownCurrencyError:
        # Unknown code (flagged by data quality): shown with 2 decimals, rounded by the same
        # rule as every other amount (money.to_minor: half-even). Floor division would move a
        # negative fee the wrong way (-0.014 to -0.02).
        return int(Decimal(int(total_e8)).scaleb(-UNKNOWN_EXPONENT).to_integral_value(ROUND_HALF_EVEN))


def major_text(minor: int | None, currency: str | None) -> str:
    """Minor units as exact major-unit text with the currency's exponent (``'-12.340'`` KWD).

    Never through a float. Empty for a missing amount; an unknown code keeps the minor units.
    """
    if minor is None:
        return ""
    try:
        return str(to_major(int(minor), currency or ""))
    except UnknownCurrencyError:
        return str(int(minor))


def major_display(minor: int | None, currency: str | None) -> str:
    """:func:`major_text` with thousands separators for the HTML page (``1,234.50``)."""
    text = major_text(minor, currency)
    if not text:
        return "-"
    negative, body = text.startswith("-"), text.lstrip("-")
    whole, dot, frac = body.partition(".")
    return f"{'-' if negative else ''}{int(whole):,}{dot}{frac}"
