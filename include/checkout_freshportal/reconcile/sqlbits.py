"""The few SQL pieces that differ between SQLite and PostgreSQL, in one place.

Reconciliation is written in SQLAlchemy Core so one statement runs on both engines; what cannot
be written portably is here, each with the reason:

* ``exception_id_sql``: ``"exc_" + sha256(key)[:24]`` computed in the warehouse, so new
  exceptions are inserted with one ``INSERT ... SELECT`` instead of being pulled into Python.
  PostgreSQL has ``sha256()``; SQLite gets the same function registered on the connection.
* ``json_text_elements``: the elements of a JSON array of strings as rows (``json_each`` /
  ``jsonb_array_elements_text``), for invoice numbers and for the tokens of a payment reference.
* ``seconds_between``: the distance between two timestamps (the suggestion window).
* scratch tables: ``TEMPORARY`` tables of this connection, analysed on PostgreSQL after they are
  filled (the planner otherwise guesses their size and picks nested loops over a million rows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

SQLITE_SHA_FUNCTION = "cfp_exception_id"


def exception_id(key: str) -> str:
    """The exception id of an exception key (the spec's formula, used by tests and the CLI)."""
    return "exc_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


class _ExceptionId(FunctionElement[str]):
    type = sa.Text()
    inherit_cache = True
    name = "exception_id"


@compiles(_ExceptionId, "postgresql")
def _exception_id_pg(element: _ExceptionId, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    inner = compiler.process(arg, **kw)
    return f"('exc_' || substr(encode(sha256(convert_to({inner}, 'UTF8')), 'hex'), 1, 24))"


@compiles(_ExceptionId)
def _exception_id_default(element: _ExceptionId, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"{SQLITE_SHA_FUNCTION}({compiler.process(arg, **kw)})"


def exception_id_sql(key: ColumnElement[str]) -> ColumnElement[str]:
    return _ExceptionId(key)


def prepare_connection(conn: sa.Connection, *, incremental: bool = False) -> None:
    """Registers the SQLite function behind :func:`exception_id_sql`; on PostgreSQL gives this
    transaction memory for its hash joins and aggregates over a million rows (instead of
    spilling to disk at the 4 MB default) and no JIT (compiling each big statement costs more
    than it saves on a run of a few dozen statements)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        conn.execute(sa.text("SET LOCAL jit = off"))
        # every big join here is an equality on text keys: hashed in memory it is one pass; a
        # merge join sorts both sides (the planner picks it when a just-written table's
        # statistics are stale, e.g. recon_matches right after a first run)
        conn.execute(sa.text("SET LOCAL enable_mergejoin = off"))
        if incremental:
            # a few thousand subjects against inputs the warehouse keeps in memory: an index
            # probe costs about what a sequential page read does, so the planner looks them up
            # instead of hash-joining them against a million-row table (full runs keep 4.0: they
            # read everything, and a misestimated join must not turn into millions of probes)
            conn.execute(sa.text("SET LOCAL random_page_cost = 1.1"))
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always has its DBAPI connection
        raw.create_function(SQLITE_SHA_FUNCTION, 1, _sqlite_exception_id, deterministic=True)


@contextmanager
def hash_aggregates(conn: sa.Connection) -> Iterator[None]:
    """Statements over the join of financial-action lines with their payout ids: PostgreSQL
    estimates that two-column join at a couple of rows (the columns are correlated) and sorts
    two million rows to group them; with sorts discouraged it hashes (a few hundred payouts, a
    hash table of action ids). No effect on SQLite."""
    pg = conn.dialect.name == "postgresql"
    if pg:
        conn.execute(sa.text("SET LOCAL enable_sort = off"))
    try:
        yield
    finally:
        if pg:
            conn.execute(sa.text("SET LOCAL enable_sort = on"))


def _sqlite_exception_id(key: str | None) -> str | None:
    return None if key is None else exception_id(key)


def json_text_elements(conn: sa.Connection, json_expr: ColumnElement[Any]) -> Any:
    """A table-valued function with one column ``value``: the elements of a JSON array of
    strings (PostgreSQL treats a function in FROM as LATERAL, SQLite correlates ``json_each``)."""
    if conn.dialect.name == "postgresql":
        return sa.func.jsonb_array_elements_text(json_expr).table_valued("value")
    return sa.func.json_each(json_expr).table_valued("value")


def text_as_json(conn: sa.Connection, text_expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """A text holding a JSON document, as the engine's JSON value."""
    if conn.dialect.name == "postgresql":
        return sa.cast(text_expr, postgresql.JSONB)
    return text_expr


def int_sum(conn: sa.Connection, expr: Any) -> ColumnElement[Any]:
    """Σ of bigint minor units as a bigint. On PostgreSQL the ``cfp_int8_sum`` aggregate
    (migration 0013: a by-value bigint state, where ``sum(bigint)`` allocates a 128-bit one per
    group, half the memory and a third less time over a million groups); an overflow fails
    loudly on both engines. NULL when there is no row, like ``sum``."""
    if conn.dialect.name == "postgresql":
        return sa.func.cfp_int8_sum(expr, type_=sa.BigInteger())
    return sa.func.sum(expr, type_=sa.BigInteger())


def seconds_between(conn: sa.Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """``a - b`` in seconds (a number) on both engines, to the microsecond.

    SQLite keeps a timestamp as text, ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC (UTCDateTime): whole
    seconds from ``strftime('%s')`` plus the six digits of microseconds, in integers.
    ``julianday`` is a double of days, about a millisecond at this epoch: a payment requested
    0.4 ms past the suggestion window was inside it on SQLite and outside on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return sa.func.extract("epoch", a - b)

    def micros(t: Any) -> Any:
        whole = sa.cast(sa.func.strftime("%s", t), sa.Integer)
        return whole * 1_000_000 + sa.cast(sa.func.substr(t, 21, 6), sa.Integer)

    return (micros(a) - micros(b)) / 1_000_000.0


def scratch(conn: sa.Connection, name: str, *cols: sa.Column[Any], index: Sequence[str] = ()) -> sa.Table:
    """A fresh temporary table of this connection (dropped first if a failed run left it).

    ``index`` columns are indexed on SQLite only: SQLite joins by nested loops and needs them,
    PostgreSQL hash-joins scratch tables in one pass and building a btree would only cost."""
    md = sa.MetaData()
    table = sa.Table(name, md, *cols, prefixes=["TEMPORARY"])
    if conn.dialect.name == "sqlite":
        for i, col in enumerate(index):
            sa.Index(f"{name}_ix{i}", table.c[col])
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    md.create_all(conn)
    return table


#: Statistics target of scratch tables: a 3,000-row sample instead of the default 30,000.
#: Their statistics live for one run and only steer its joins (row counts, which keys are
#: unique, the few values of a currency or rule column); a full run at a million orders spent
#: 1.6 s in ANALYZE with the default and 0.03 s with this, with no plan getting worse (three
#: alternating pairs of runs, 1.0-1.7 s faster each).
SCRATCH_STATISTICS = 10


def analyze(conn: sa.Connection, *tables: sa.Table, kept: bool = False) -> None:
    """Fresh statistics on PostgreSQL: scratch tables (autovacuum never sees temp tables) from
    a small sample; ``kept`` tables (their statistics outlive the run and plan the next
    incremental runs' lookups) from the database's default sample."""
    if conn.dialect.name != "postgresql":
        return
    if not kept:
        conn.execute(sa.text(f"SET LOCAL default_statistics_target = {SCRATCH_STATISTICS}"))
    for t in tables:
        conn.execute(sa.text(f"ANALYZE {t.name}"))
    if not kept:  # back to the session's value, for this transaction only
        conn.execute(sa.text("SET LOCAL default_statistics_target TO DEFAULT"))


def analyze_if_churned(conn: sa.Connection, table: sa.Table, written: int) -> None:
    """Fresh statistics for a kept table after a run rewrote a good part of it (PostgreSQL).

    The incremental run's lookups (the scope's few thousand payments against ``recon_matches``)
    are planned from these statistics; a table never analysed, or analysed before a first run
    filled it, is estimated at a fraction of its rows joining, and the planner then scans and
    hashes the million rows instead of probing the index (0.40 against 0.15 s a statement,
    measured). Autovacuum would catch up some time later, or never where it is off; the run
    does not wait for it. Cheap runs that wrote a few rows leave the statistics alone."""
    if conn.dialect.name != "postgresql" or written <= 0:
        return
    tuples = conn.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table.name}
    ).scalar()
    if tuples is None or tuples < 0 or written > 0.1 * max(float(tuples), 1.0):
        analyze(conn, table, kept=True)


def fill(conn: sa.Connection, table: sa.Table, select: sa.Select[Any]) -> int:
    """``INSERT INTO table SELECT ...`` (columns by name, in the select's order); rows written."""
    names = [c.name for c in select.selected_columns]
    # preserve_rowcount: SQLAlchemy 2 drops an INSERT's rowcount on psycopg otherwise (-1)
    result = conn.execute(table.insert().from_select(names, select).execution_options(preserve_rowcount=True))
    return int(result.rowcount or 0)


def fill_new(conn: sa.Connection, table: sa.Table, select: sa.Select[Any]) -> int:
    """``INSERT INTO table SELECT ... ON CONFLICT DO NOTHING`` (the select must have a WHERE:
    SQLite's parser needs it before ON CONFLICT): the rows whose key is not there yet, without
    anti-joining the table against itself in the plan. Rows written."""
    names = [c.name for c in select.selected_columns]
    ins: Any = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    stmt = ins.from_select(names, select).on_conflict_do_nothing()
    return int(conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount or 0)


def sync_rows(
    conn: sa.Connection,
    target: sa.Table,
    new: sa.Select[Any],
    *,
    keys: Sequence[str],
    scope: ColumnElement[bool],
    extra: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """Makes the rows of ``target`` inside ``scope`` equal to ``new`` by writing only differences:
    rows absent from ``new`` or with other values are deleted, rows of ``new`` not in ``target``
    are inserted (with the constant columns ``extra``, e.g. the run id, not compared). A rerun on
    unchanged data writes nothing, which is most of a rerun's cost on a big table.
    Returns (deleted, inserted)."""
    names = [c.name for c in new.selected_columns]
    consts = [sa.literal(v, target.c[k].type).label(k) for k, v in (extra or {}).items()]
    if is_empty(conn, target, scope):
        # nothing stored in the scope (a first run): nothing to compare, insert straight away
        # instead of writing a million rows into a scratch table first (into the bare table,
        # its indexes built afterwards, when nothing is stored at all)
        with indexes_rebuilt(conn, target, when=is_empty(conn, target) and expects_bulk(conn, new)):
            return 0, fill(conn, target, new.add_columns(*consts))
    tmp = scratch(
        conn, f"recon_tmp_new_{target.name}", *[sa.Column(n, target.c[n].type) for n in names], index=keys[:1]
    )
    fill(conn, tmp, new)
    analyze(conn, tmp)
    # equality on the keys lets the planner hash-join; IS NOT DISTINCT FROM only on the rest
    same = sa.exists().where(
        *[tmp.c[k] == target.c[k] for k in keys],
        *[tmp.c[n].is_not_distinct_from(target.c[n]) for n in names if n not in keys],
    )
    deleted = conn.execute(target.delete().where(scope, ~same)).rowcount
    if rows_left(conn, target, scope, tmp) is None:
        return int(deleted or 0), 0
    # What is left of target with a key of tmp is identical: drop it from tmp, insert the rest.
    # Never ``INSERT INTO target ... WHERE NOT EXISTS (SELECT FROM target)``: on an analysed empty
    # target PostgreSQL plans it as a nested loop re-reading the table the INSERT grows (O(n^2)).
    conn.execute(tmp.delete().where(sa.exists().where(*[target.c[k] == tmp.c[k] for k in keys])))
    inserted = fill(conn, target, sa.select(*tmp.c, *consts))
    return int(deleted or 0), inserted


def is_empty(conn: sa.Connection, table: sa.Table, where: ColumnElement[bool] | None = None) -> bool:
    """No row of ``table`` (passing ``where``): one row read at most, where ``count`` reads all."""
    sel = sa.select(sa.literal(1)).select_from(table)
    if where is not None:
        sel = sel.where(where)
    return conn.execute(sel.limit(1)).first() is None


#: Memory for an index a bulk load builds again (``indexes_rebuilt``): the million keys of a first
#: run sort in memory, where the 64 MB default spills them to disk (the payment id index of
#: ``recon_matches`` took 3.7 s built with the default, 1.7 s with this).
REBUILD_MEMORY = "256MB"
#: A load is worth dropping and rebuilding indexes for from this many rows (planner estimate):
#: below it, the inserts' index maintenance costs less than the rebuild's full scans, and a table
#: that stays empty (no payouts yet, no invoice numbers) is not locked by DDL in every run.
BULK_LOAD_ROWS = 100_000


def expects_bulk(conn: sa.Connection, select: sa.Select[Any]) -> bool:
    """Whether ``select`` is estimated to return at least ``BULK_LOAD_ROWS`` rows (PostgreSQL's
    planner, ``EXPLAIN``, nothing executed); always False on SQLite (no rebuild there)."""
    if conn.dialect.name != "postgresql":
        return False
    plan: Any = conn.execute(_Explain(select)).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"]) >= BULK_LOAD_ROWS


class _Explain(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>``, its parameters bound as the select's own."""

    inherit_cache = False

    def __init__(self, select: sa.Select[Any]) -> None:
        self.select = select


@compiles(_Explain, "postgresql")
def _explain_pg(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.select, **kw)


@contextmanager
def indexes_rebuilt(conn: sa.Connection, table: sa.Table, *, when: bool) -> Iterator[None]:
    """On PostgreSQL and ``when`` (a bulk load into an empty kept table): the table's primary key,
    unique constraints and plain indexes are dropped for the block and created again after it
    from their own definitions (``pg_get_constraintdef``, ``pg_get_indexdef``): one sort each,
    instead of a random descent per row into each of them. 1.1M matches by hand: 8.9 s into the
    table with every index, 2.1 s into the bare one plus 2.3 s for the primary key and 1.7 s for
    the payment id index; as the run's store_matches step, 5.7-6.0 s against 6.5-6.6 s at
    6f5aa2d, which kept the primary key during the load and rebuilt the payment id index only.
    Partial indexes stay: they hold a few rows of the million, and building one scans the whole
    table. The keys are checked when the primary key comes back: a duplicate fails the run,
    which rolls back (DDL included).

    The drops lock the table (ACCESS EXCLUSIVE) until the transaction commits, so readers wait
    for the run: callers ask for this only when the table held no row before the load (nothing
    to read) and the load is big (``expects_bulk``). The lock is taken without waiting: if any
    other session holds the table (a dump, a report's query), the load goes into the indexed
    table as it is, slower but without queueing every reader behind the run. A table another one
    references by a foreign key keeps its indexes too. SQLite and every other case: nothing
    changes."""
    if not when or conn.dialect.name != "postgresql":
        yield
        return
    rel = {"t": table.name}
    referenced = conn.execute(
        sa.text("SELECT 1 FROM pg_constraint WHERE confrelid = CAST(:t AS regclass) LIMIT 1"), rel
    ).first()
    if referenced is not None or not _lock_now(conn, table):
        yield
        return
    qualified = conn.execute(sa.text("SELECT CAST(CAST(:t AS regclass) AS text)"), rel).scalar_one()
    constraints = conn.execute(
        sa.text(
            "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') ORDER BY conname"
        ),
        rel,
    ).all()
    indexes = conn.execute(
        sa.text(
            "SELECT CAST(CAST(i.indexrelid AS regclass) AS text), pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass) AND i.indpred IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
            "ORDER BY 1"
        ),
        rel,
    ).all()
    for name, _ in constraints:
        conn.execute(sa.text(f"ALTER TABLE {qualified} DROP CONSTRAINT {name}"))
    for name, _ in indexes:
        conn.execute(sa.text(f"DROP INDEX {name}"))
    yield
    memory = conn.execute(sa.text("SELECT current_setting('maintenance_work_mem')")).scalar_one()
    conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{REBUILD_MEMORY}'"))
    for name, definition in constraints:
        conn.execute(sa.text(f"ALTER TABLE {qualified} ADD CONSTRAINT {name} {definition}"))
    for _, definition in indexes:
        conn.execute(sa.text(definition))
    conn.execute(sa.text("SELECT set_config('maintenance_work_mem', :v, true)"), {"v": memory})


def _lock_now(conn: sa.Connection, table: sa.Table) -> bool:
    """ACCESS EXCLUSIVE on ``table`` for the rest of the transaction if no other session holds
    it now (``NOWAIT``, in a savepoint so a refusal leaves the transaction usable)."""
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"LOCK TABLE {table.name} IN ACCESS EXCLUSIVE MODE NOWAIT"))
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        return False
    return True


def rows_left(conn: sa.Connection, target: sa.Table, scope: ColumnElement[bool], new: sa.Table) -> int | None:
    """After the rows of ``target`` that differ from ``new`` were deleted: how many are left in
    the scope (0: nothing, a first run inserts all of ``new`` without comparing), or None when
    every row of ``new`` is already there. Each row left equals a row of ``new`` (keys are unique
    on both sides), so as many rows left as ``new`` has means the same set: nothing to insert,
    and no second anti-join over a million rows (a rerun on unchanged data ends here)."""
    kept = count(conn, target, scope)
    return None if kept and kept == count(conn, new) else kept


def count(conn: sa.Connection, table: sa.Table, where: ColumnElement[bool] | None = None) -> int:
    """Rows of ``table`` (passing ``where``)."""
    sel = sa.select(sa.func.count()).select_from(table)
    if where is not None:
        sel = sel.where(where)
    return int(conn.execute(sel).scalar() or 0)
