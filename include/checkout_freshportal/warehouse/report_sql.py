"""SQL of the PostgreSQL report path: set-based conversions of lines validated in Python.

The CSV body is COPYed verbatim into a temp table of text columns (``c0..cN`` in file order, plus
a ``line_no`` identity) while Python validates each line on the way (``report_csv.make_validator``,
the same code the SQLite path uses, so both paths accept exactly the same lines); the few rejected
lines go to a second temp table. Then two statements do the rest:

1. raw insert: every line as a JSON object (``jsonb_object(header[], values[])``) with its
   ``parse_error``;
2. staging merge: typed conversions feeding ``bulk.merge_sql``: exact ``numeric`` -> ``*_e8``,
   ROUND_HALF_EVEN to minor units in integer arithmetic with a per-currency divisor, timestamps with
   more than 6 fractional digits truncated (not rounded, as ``timeutil`` does) before the cast.

Why validate in Python: measured on the development machine, a PostgreSQL regex costs 1.5-4 us per
value and an equivalent regex-free check (``btrim``/``substr``) no less, i.e. 13-17 us per line,
more than three COPYs of it; Python does the same work on the client's core while the server is
busy ingesting the bytes. Per-row values are computed once in a subquery fenced with ``OFFSET 0``
(otherwise the planner inlines and re-evaluates them per reference). Literal ``%`` never appears in
the SQL text (it goes to psycopg as-is), hence ``mod()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from checkout_freshportal import money
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.bulk import driver_connection, q, temp_name

#: psycopg splits writes above 128 KiB anyway; bigger chunks only cost memory.
COPY_CHUNK = 128 * 1024


def create_input_table(conn: Connection, ncols: int) -> str:
    name = temp_name("cfp_report_in")
    cols = ", ".join(f"c{i} text" for i in range(ncols))
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {q(conn, name)} "
        f"(line_no bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), {cols}) ON COMMIT DROP"
    )
    return name


def copy_sql(conn: Connection, table: str, ncols: int) -> str:
    """COPY of the CSV body (header already consumed); empty fields arrive as ''."""
    cols = ", ".join(f"c{i}" for i in range(ncols))
    return f"COPY {q(conn, table)} ({cols}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({cols}), ENCODING 'UTF8')"


def _temp_table(conn: Connection, prefix: str, ddl: str, rows: Iterable[tuple]) -> str:
    name = temp_name(prefix)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {q(conn, name)} ({ddl}) ON COMMIT DROP")
    with driver_connection(conn).cursor() as cur, cur.copy(f"COPY {q(conn, name)} FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)
    conn.exec_driver_sql(f"ANALYZE {q(conn, name)}")
    return name


def create_rejected_table(conn: Connection, rejected: Sequence[tuple[int, str]]) -> str:
    return _temp_table(
        conn, "cfp_rejected", "line_no bigint PRIMARY KEY, parse_error text NOT NULL", rejected
    )


def create_currency_table(conn: Connection) -> str:
    """code -> divisor from 1e-8 units to minor units, ``10^(8 - exponent)``."""
    rows = [(c, 10 ** (money.EXACT_DECIMALS - e)) for c, e in sorted(money.active_currencies().items())]
    return _temp_table(conn, "cfp_currency", "code text PRIMARY KEY, div bigint NOT NULL", rows)


class ReportSQL:
    """SQL builders for one file: its header map, spec and temp tables."""

    def __init__(
        self, conn: Connection, spec: rc.ReportSpec, hmap: rc.HeaderMap, tin: str, tcur: str, trej: str | None
    ) -> None:
        self.conn, self.spec, self.hmap = conn, spec, hmap
        self.tin, self.tcur = q(conn, tin), q(conn, tcur)
        self.trej = q(conn, trej) if trej else None

    def _values_subquery(self) -> str:
        exprs = []
        for j, f in enumerate(self.spec.fields):
            i = self.hmap.index[f.header]
            if i is None:
                exprs.append(f"NULL::text AS v{j}")
            elif f.kind == "currency":
                exprs.append(f"upper(NULLIF(t.c{i}, '')) AS v{j}")
            else:
                exprs.append(f"NULLIF(t.c{i}, '') AS v{j}")
        where = (
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.trej} r WHERE r.line_no = t.line_no)" if self.trej else ""
        )
        return f"(SELECT t.line_no, {', '.join(exprs)} FROM {self.tin} t {where} OFFSET 0) s"

    def raw_insert(self) -> tuple[str, dict[str, Any]]:
        cols = ", ".join(f"t.c{i}" for i in range(len(self.hmap.header)))
        err, join = "NULL::text", ""
        if self.trej:
            err, join = "r.parse_error", f"LEFT JOIN {self.trej} r ON r.line_no = t.line_no"
        sql = (
            'INSERT INTO raw_report_rows (file_id, line_no, "row", parse_error) '
            f"SELECT %(file_id)s, t.line_no, jsonb_object(%(header)s::text[], ARRAY[{cols}]), {err} "
            f"FROM {self.tin} t {join}"
        )
        return sql, {"header": list(self.hmap.header)}

    def staging_select(self, columns: Sequence[str]) -> str:
        """SELECT of the staged columns in ``columns`` order (bookkeeping from parameters)."""
        inner, joins, out = [], [], {}
        for j, f in enumerate(self.spec.fields):
            v = f"s.v{j}"
            if f.kind == "amount":
                assert f.currency is not None
                cur_j = next(k for k, g in enumerate(self.spec.fields) if g.header == f.currency)
                alias = f"k{j}"
                joins.append(f"LEFT JOIN {self.tcur} {alias} ON {alias}.code = s.v{cur_j}")
                inner += [f"CAST(CAST({v} AS numeric) * 100000000 AS bigint) AS e{j}", f"{alias}.div AS d{j}"]
                out[f"{f.column}_e8"] = f"x.e{j}"
                out[f"{f.column}_minor"] = half_even(f"x.e{j}", f"x.d{j}")
            elif f.kind == "ts":
                out[f.column] = f"CAST({truncate_fraction(f'x.v{j}')} AS timestamptz)"
            elif f.kind == "date":
                out[f.column] = (
                    f"CAST(CAST({truncate_fraction(f'x.v{j}')} AS timestamptz) AT TIME ZONE 'UTC' AS date)"
                )
            else:
                out[f.column] = f"x.v{j}"
        out["source"] = "CAST(%(source)s AS text)"
        out["source_file_id"] = "CAST(%(file_id)s AS text)"
        out["first_seen_at"] = out["updated_at"] = "CAST(%(now)s AS timestamptz)"
        values = self._values_subquery()
        sub = f"SELECT s.*{''.join(', ' + e for e in inner)} FROM {values} {' '.join(joins)} OFFSET 0"
        return f"SELECT {', '.join(out[c] + ' AS ' + q(self.conn, c) for c in columns)} FROM ({sub}) x"

    def duplicate_key(self) -> str:
        """The first key that occurs on more than one staged line, with those line numbers."""
        idx = {f.column: j for j, f in enumerate(self.spec.fields)}
        keys = [f"s.v{idx[k]}" for k in self.spec.key]
        return (
            f"SELECT {', '.join(keys)}, array_agg(s.line_no ORDER BY s.line_no) "
            f"FROM {self._values_subquery()} "
            f"GROUP BY {', '.join(keys)} HAVING count(*) > 1 ORDER BY min(s.line_no) LIMIT 1"
        )


def lit(text: str) -> str:
    """A SQL string literal for a message fixed in code (never for data)."""
    if "%" in text:
        raise ValueError("no % in SQL literals (driver-level parameters)")
    return "'" + text.replace("'", "''") + "'"


def truncate_fraction(v: str) -> str:
    """Drop fractional-second digits after the 6th of a grammar-valid timestamp (no regex).

    The fraction runs from the dot to the offset: ``Z`` (1 char), ``+hh:mm`` (6), ``+hhmm`` (5)
    or nothing; values shorter than 27 characters cannot carry 7 digits and pass unchanged.
    """
    dot = f"strpos({v}, '.')"
    tail = (
        f"(CASE WHEN right({v}, 1) = 'Z' THEN 1 WHEN substr({v}, length({v}) - 5, 1) IN ('+', '-') THEN 6 "
        f"WHEN substr({v}, length({v}) - 4, 1) IN ('+', '-') THEN 5 ELSE 0 END)"
    )
    frac = f"(length({v}) - {dot} - {tail})"
    return (
        f"(CASE WHEN length({v}) < 27 OR {dot} = 0 OR {frac} <= 6 THEN {v} "
        f"ELSE overlay({v} placing '' from {dot} + 7 for {frac} - 6) END)"
    )


def half_even(a: str, d: str) -> str:
    """ROUND_HALF_EVEN of ``a / d`` for bigint ``a`` and positive bigint ``d``, in integers only.

    Truncating division and a same-sign remainder (PostgreSQL's ``/`` and ``mod``) never leave
    the bigint range, even at +-(2^63 - 1); away from zero when past the half, or at the half
    when the truncated quotient is odd.
    """
    qt, r = f"({a} / {d})", f"mod({a}, {d})"
    away = f"(CASE WHEN {a} < 0 THEN -1 ELSE 1 END)"
    return (
        f"({qt} + CASE WHEN abs(2 * {r}) < {d} THEN 0 "
        f"WHEN abs(2 * {r}) > {d} OR mod({qt}, 2) <> 0 THEN {away} ELSE 0 END)"
    )
