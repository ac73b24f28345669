"""SQL pieces the data-quality checks are written with: the same text on PostgreSQL and SQLite.

Kept apart from the checks so each check reads as its query. Nothing from the data is ever put
into SQL text here: currency codes come from the ``iso4217`` package, timestamps from the run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from checkout_freshportal.money import EXACT_DECIMALS, known_currencies


def as_text(expr: str) -> str:
    return f"CAST({expr} AS TEXT)"


def batch(alias: str) -> str:
    """The check's table under ``alias``. Great Expectations substitutes ``{batch}`` with an
    already aliased subquery (``(SELECT * FROM t WHERE 1 = 1) AS subselect``), so a query that
    needs its own alias wraps it once more; the planners flatten both levels. Queries never say
    ``JOIN`` (comma joins instead): a query with that word gets an unaliased substitution."""
    return f"(SELECT * FROM {{batch}}) {alias}"


def fence(dialect: str) -> str:
    """Ends a subquery the planner must run as written: not inlined into the outer query, no
    outer condition pushed into it (a no-op LIMIT/OFFSET is the portable optimisation fence)."""
    return " OFFSET 0" if dialect == "postgresql" else " LIMIT -1 OFFSET 0"


def ts_literal(dialect: str, at: datetime) -> str:
    """A timestamp literal comparable with ``UTCDateTime`` columns on ``dialect``.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC in SQLAlchemy's fixed-width text
    form (``YYYY-MM-DD HH:MM:SS.ffffff``), where text order is time order.
    """
    if at.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if dialect == "postgresql":
        return f"CAST('{text}+00:00' AS TIMESTAMP WITH TIME ZONE)"
    return f"'{text}'"


def codes_list() -> str:
    # ISO codes are [A-Z]{3}: safe to inline, and a literal IN list lets the planner hash it.
    return ", ".join(f"'{code}'" for code in sorted(known_currencies()))


def divisor(currency_col: str) -> str:
    """10^(8 - exponent) of the currency in ``currency_col``: e8 units per minor unit.

    One ``IN`` list per exponent other than 2 (PostgreSQL hashes long lists); an unknown code
    counts as 2 decimals here and is reported by the ISO 4217 checks.
    """
    by_exp: dict[int, list[str]] = {}
    for code, exp in sorted(known_currencies().items()):
        if exp != 2:
            by_exp.setdefault(exp, []).append(f"'{code}'")
    whens = " ".join(
        f"WHEN {currency_col} IN ({', '.join(codes)}) THEN {10 ** (EXACT_DECIMALS - exp)}"
        for exp, codes in sorted(by_exp.items())
    )
    return f"(CASE {whens} ELSE {10 ** (EXACT_DECIMALS - 2)} END)"


def e8_to_minor_sql(e8: str, currency_col: str) -> str:
    """``money.e8_to_minor`` in SQL: ROUND_HALF_EVEN of ``e8 / 10^(8-exp)`` in integers only.

    Integer division truncates toward zero on both engines, so the magnitude is rounded and the
    sign put back (half-even is symmetric): quotient q, remainder r of |e8| by d; add one when
    2r > d, or 2r = d and q is odd.
    """
    d = divisor(currency_col)
    a = f"ABS({e8})"
    q = f"({a} / {d})"
    r2 = f"(2 * ({a} % {d}))"
    rounded = f"({q} + CASE WHEN {r2} > {d} OR ({r2} = {d} AND {q} % 2 = 1) THEN 1 ELSE 0 END)"
    return f"(CASE WHEN {e8} < 0 THEN -{rounded} ELSE {rounded} END)"


def minor_mismatch(e8: str, minor: str, divisor: str) -> str:
    """True when ``minor`` is not ``e8 / divisor`` rounded half-even (or only one is NULL).

    ``minor`` is right iff the rest ``e8 - minor * divisor`` is under half a minor unit, or
    exactly half and ``minor`` even: a few integer operations per row instead of the rounding
    itself (``e8_to_minor_sql``), which matters on millions of report lines.
    """
    rest2 = f"2 * ABS({e8} - {minor} * {divisor})"
    return (
        f"(({e8} IS NULL) <> ({minor} IS NULL) OR {rest2} > {divisor}"
        f" OR ({rest2} = {divisor} AND {minor} % 2 <> 0))"
    )


def compile_sql(expr: sa.ColumnElement[str], dialect: str) -> str:
    from sqlalchemy.dialects import postgresql, sqlite

    d = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    return str(expr.compile(dialect=d, compile_kwargs={"literal_binds": True}))
