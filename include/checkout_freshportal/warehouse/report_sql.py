"""SQL of the PostgreSQL report path: set-based conversions and a split merge.

The CSV body is COPYed verbatim into a temp table of text columns (``c0..cN`` in file order, plus
a ``line_no`` identity); temp tables write no WAL. Python validates the same lines
(``report_csv``), and the conversions and the merge into the staged table run here, set-based:

1. overlap: the ``line_no`` of the lines whose key is already staged (a semi-join on the primary
   key), into a small temp table; the target is locked against concurrent report loaders
   (``pg_advisory_xact_lock``) from before this step to the commit;
2. a key twice among those lines fails the file (for new keys the primary key does it in 3.);
3. ``INSERT ... SELECT`` of the converted lines that are not in the overlap: no ``ON CONFLICT``
   (a speculative insertion per row costs about as much as the insert itself);
4. ``UPDATE ... FROM`` of the converted overlap lines whose values differ (``IS DISTINCT FROM``),
   with the same column roles as ``upsert`` (``bulk.MergePlan``): ``payout_id`` never erased,
   ``updated_at`` moved only on a change, lineage written only with a change,
   ``first_seen_at`` untouched. Unchanged lines are not written at all.

Conversions: exact ``numeric`` -> ``*_e8``; ``*_minor`` = ROUND_HALF_EVEN of ``e8 / 10^(8 - exponent)``
in integer arithmetic (:func:`half_even`), the exponent from a ``CASE`` over constant currency lists
(hashed ``= ANY``); timestamps by the cheapest exact expression for the shapes Python saw in the
column (:func:`ts_expr`). Per-row values are computed once in subqueries fenced with ``OFFSET 0``
(otherwise the planner inlines and re-evaluates them per reference). Literal ``%`` never appears
in the SQL text (it goes to psycopg as-is), hence ``mod()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from checkout_freshportal import money
from checkout_freshportal.warehouse import locks
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.bulk import (
    driver_connection,
    insert_sql,
    q,
    temp_name,
    update_changed_sql,
)
from checkout_freshportal.warehouse.upsert import MergePlan

#: psycopg splits writes above 128 KiB anyway; bigger chunks only cost memory.
COPY_CHUNK = 128 * 1024


def lock_table(conn: Connection, table: str) -> None:
    """Serialise report loads into ``table`` until the end of the transaction."""
    conn.exec_driver_sql(
        "SELECT pg_advisory_xact_lock(%(ns)s, hashtext(%(t)s))", {"ns": locks.REPORT_TABLE, "t": table}
    )


def create_input_table(conn: Connection, ncols: int) -> str:
    name = temp_name("cfp_report_in")
    cols = ", ".join(f"c{i} text" for i in range(ncols))
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {q(conn, name)} "
        f"(line_no bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), {cols}) ON COMMIT DROP"
    )
    return name


def copy_sql(conn: Connection, table: str, ncols: int) -> str:
    """COPY of the CSV body (header already consumed); empty fields, quoted or not, arrive as NULL
    (what both load paths stage for an empty value), so the SQL needs no ``NULLIF`` per value."""
    cols = ", ".join(f"c{i}" for i in range(ncols))
    return f"COPY {q(conn, table)} ({cols}) FROM STDIN (FORMAT csv, FORCE_NULL ({cols}), ENCODING 'UTF8')"


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


def minor_divisor(code: str) -> str:
    """``10^(8 - exponent)`` of the upper-case currency ``code`` (an expression), NULL if unknown.

    A ``CASE`` over constant lists (``= ANY`` of 9+ constants is hashed by PostgreSQL 14+), most
    common exponent first; cheaper than joining a currency table once per amount column.
    """
    by_exp: dict[int, list[str]] = {}
    for c, e in money.active_currencies().items():
        by_exp.setdefault(e, []).append(c)
    arms = []
    for e, codes in sorted(by_exp.items(), key=lambda kv: -len(kv[1])):
        arr = lit("{" + ",".join(sorted(codes)) + "}")
        arms.append(f"WHEN {code} = ANY (CAST({arr} AS text[])) THEN {10 ** (money.EXACT_DECIMALS - e)}")
    return f"(CASE {' '.join(arms)} END)"


def ts_expr(v: str, shape: rc.TsShape | None) -> str:
    """timestamptz of the grammar-valid text ``v`` (session time zone UTC), fractional seconds
    truncated to microseconds; the cheapest exact form for the shapes seen in the column:

    * every value ``YYYY-MM-DD[T ]HH:MM:SS.ddddddd[dd][Z]``: the first 26 characters;
    * no value with more than 6 fractional digits: a plain cast (nothing to truncate);
    * anything else: :func:`truncate_fraction`, then the cast.
    """
    if shape is not None and shape.fixed:
        return f"CAST(left({v}, 26) AS timestamptz)"
    if shape is not None and not shape.long_fraction:
        return f"CAST({v} AS timestamptz)"
    return f"CAST({truncate_fraction(v)} AS timestamptz)"


class ReportSQL:
    """SQL builders for one file: its header map, spec, input temp table and timestamp shapes."""

    def __init__(
        self,
        conn: Connection,
        spec: rc.ReportSpec,
        hmap: rc.HeaderMap,
        tin: str,
        *,
        shapes: dict[str, rc.TsShape] | None = None,
        trej: str | None = None,
    ) -> None:
        self.conn, self.spec, self.hmap = conn, spec, hmap
        self.tin = q(conn, tin)
        self.shapes = shapes or {}
        self.trej = q(conn, trej) if trej else None
        self.table = q(conn, spec.table.name)
        fields = {f.column: f for f in spec.fields}
        for k in spec.key:
            if fields[k].kind != "text" or hmap.index[fields[k].header] is None:
                raise AssertionError(f"key column {k} must be a text column of the file")
        #: input column of each key column, e.g. ``("c5", "c14")``
        self.key_inputs = tuple(f"c{hmap.index[fields[k].header]}" for k in spec.key)

    def _where(self, alias: str, ovl: str | None, *, in_overlap: bool) -> str:
        conds = []
        if self.trej:
            conds.append(f"NOT EXISTS (SELECT 1 FROM {self.trej} r WHERE r.line_no = {alias}.line_no)")
        if ovl:
            neg = "" if in_overlap else "NOT "
            conds.append(
                f"{neg}EXISTS (SELECT 1 FROM {q(self.conn, ovl)} o WHERE o.line_no = {alias}.line_no)"
            )
        return f"WHERE {' AND '.join(conds)}" if conds else ""

    def _values_subquery(self, where: str) -> str:
        exprs = []
        for j, f in enumerate(self.spec.fields):
            i = self.hmap.index[f.header]
            if i is None:
                exprs.append(f"NULL::text AS v{j}")
            elif f.kind == "currency":
                exprs.append(f"upper(t.c{i}) AS v{j}")
            else:
                exprs.append(f"t.c{i} AS v{j}")
        return f"(SELECT t.line_no, {', '.join(exprs)} FROM {self.tin} t {where} OFFSET 0) s"

    def overlap(self) -> tuple[str, str]:
        """(name, DDL) of a temp table of the ``line_no`` of lines whose key is already staged."""
        name = temp_name("cfp_overlap")
        on = " AND ".join(
            f"g.{q(self.conn, k)} = t.{c}" for k, c in zip(self.spec.key, self.key_inputs, strict=True)
        )
        where = self._where("t", None, in_overlap=False)
        cond = f"EXISTS (SELECT 1 FROM {self.table} g WHERE {on})"
        where = f"{where} AND {cond}" if where else f"WHERE {cond}"
        ddl = (
            f"CREATE TEMP TABLE {q(self.conn, name)} ON COMMIT DROP AS "
            f"SELECT t.line_no FROM {self.tin} t {where}"
        )
        return name, ddl

    def staging_select(self, columns: Sequence[str], ovl: str | None, *, in_overlap: bool) -> str:
        """SELECT of the converted lines, staged columns in ``columns`` order (bookkeeping from
        parameters): the lines of the overlap table ``ovl`` or the others (all if ``ovl`` is None),
        rejected lines excluded."""
        inner, out = [], {}
        for j, f in enumerate(self.spec.fields):
            v = f"s.v{j}"
            if f.kind == "amount":
                assert f.currency is not None
                cur_j = next(k for k, g in enumerate(self.spec.fields) if g.header == f.currency)
                inner += [
                    f"CAST(CAST({v} AS numeric) * 100000000 AS bigint) AS e{j}",
                    f"{minor_divisor(f's.v{cur_j}')} AS d{j}",
                ]
                out[f"{f.column}_e8"] = f"x.e{j}"
                out[f"{f.column}_minor"] = half_even(f"x.e{j}", f"x.d{j}")
            elif f.kind == "ts":
                out[f.column] = ts_expr(f"x.v{j}", self.shapes.get(f.header))
            elif f.kind == "date":
                out[f.column] = (
                    f"CAST({ts_expr(f'x.v{j}', self.shapes.get(f.header))} AT TIME ZONE 'UTC' AS date)"
                )
            else:
                out[f.column] = f"x.v{j}"
        out["source"] = "CAST(%(source)s AS text)"
        out["source_file_id"] = "CAST(%(file_id)s AS text)"
        out["first_seen_at"] = out["updated_at"] = "CAST(%(now)s AS timestamptz)"
        values = self._values_subquery(self._where("t", ovl, in_overlap=in_overlap))
        sub = f"SELECT s.*{''.join(', ' + e for e in inner)} FROM {values} OFFSET 0"
        return f"SELECT {', '.join(out[c] + ' AS ' + q(self.conn, c) for c in columns)} FROM ({sub}) x"

    def insert_new(self, plan: MergePlan, ovl: str | None) -> str:
        """Plain INSERT of the lines outside the overlap (a key repeated among them violates the
        primary key)."""
        return insert_sql(self.conn, plan, self.staging_select(plan.columns, ovl, in_overlap=False))

    def update_changed(self, plan: MergePlan, ovl: str) -> str:
        """UPDATE of the staged rows of the overlap lines whose values differ (``upsert`` roles)."""
        return update_changed_sql(self.conn, plan, self.staging_select(plan.columns, ovl, in_overlap=True))

    def duplicate_key(self, ovl: str | None = None) -> str:
        """The first key on more than one valid line (of the overlap table ``ovl`` if given), with
        those line numbers."""
        keys = ", ".join(f"t.{c}" for c in self.key_inputs)
        return (
            f"SELECT {keys}, array_agg(t.line_no ORDER BY t.line_no) "
            f"FROM {self.tin} t {self._where('t', ovl, in_overlap=True)} "
            f"GROUP BY {keys} HAVING count(*) > 1 ORDER BY min(t.line_no) LIMIT 1"
        )

    def rejected_raw_insert(self) -> tuple[str, dict[str, Any]]:
        """The rejected lines into ``raw_report_rows`` (JSON object header -> text, with the reason)."""
        assert self.trej is not None
        cols = ", ".join(f"coalesce(t.c{i}, '')" for i in range(len(self.hmap.header)))
        sql = (
            'INSERT INTO raw_report_rows (file_id, line_no, "row", parse_error) '
            f"SELECT %(file_id)s, t.line_no, jsonb_object(%(header)s::text[], ARRAY[{cols}]), r.parse_error "
            f"FROM {self.tin} t JOIN {self.trej} r ON r.line_no = t.line_no"
        )
        return sql, {"header": list(self.hmap.header)}


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
