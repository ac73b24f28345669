"""PostgreSQL bulk path: COPY into a temp table, then one set-based merge.

Row-by-row INSERTs cost a round trip and a plan execution per row; COPY streams rows at wire
speed into an unlogged, index-free temp table, and a single ``INSERT ... SELECT ... ON CONFLICT``
merges them with the same semantics as :func:`checkout_freshportal.warehouse.upsert.upsert`
(same :class:`MergePlan`: unchanged rows untouched, lineage columns not a change,
``preserve_non_null`` protected, exact insert/update counts via ``xmax``).

SQL here is executed at driver level (psycopg ``%(name)s`` parameters) with identifiers quoted by
the dialect; values always travel as parameters or through COPY, never inside the SQL text.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, TextIO, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.engine import is_postgres
from checkout_freshportal.warehouse.upsert import MergePlan, UpsertResult, plan_merge

COPY_CHUNK = 1 << 20


def require_postgres(conn: Connection) -> None:
    if not is_postgres(conn):
        raise NotImplementedError("the COPY bulk path is PostgreSQL-only; use upsert() on SQLite")


def q(conn: Connection, name: str) -> str:
    """A quoted SQL identifier."""
    return conn.dialect.identifier_preparer.quote_identifier(name)


def driver_connection(conn: Connection) -> Any:
    """The psycopg connection under an SQLAlchemy connection (same transaction)."""
    return conn.connection.driver_connection


def temp_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def merge_sql(conn: Connection, plan: MergePlan, select_sql: str) -> str:
    """``WITH m AS (INSERT ... SELECT ... ON CONFLICT ... RETURNING) SELECT inserted, updated``.

    ``select_sql`` must yield the columns ``plan.columns`` in that order (bookkeeping included).
    """
    t = q(conn, plan.table.name)
    cols = ", ".join(q(conn, c) for c in plan.columns)
    key = ", ".join(q(conn, c) for c in plan.key)

    def incoming(c: str) -> str:
        col = q(conn, c)
        if c in plan.preserve_non_null:
            return f"COALESCE(EXCLUDED.{col}, tgt.{col})"
        return f"EXCLUDED.{col}"

    sets = [f"{q(conn, c)} = {incoming(c)}" for c in plan.set_columns]
    if plan.has_updated_at and "updated_at" not in plan.set_columns:
        sets.append('"updated_at" = EXCLUDED."updated_at"')
    changed = [f"{incoming(c)} IS DISTINCT FROM tgt.{q(conn, c)}" for c in plan.compare_columns]
    if sets:
        conflict = f"DO UPDATE SET {', '.join(sets)} WHERE {' OR '.join(changed) if changed else 'false'}"
    else:
        conflict = "DO NOTHING"
    return (
        f"WITH m AS (INSERT INTO {t} AS tgt ({cols}) SELECT {cols} FROM ({select_sql}) AS src "
        f"ON CONFLICT ({key}) {conflict} RETURNING (tgt.xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM m"
    )


def _incoming(conn: Connection, plan: MergePlan, c: str, new: str, old: str) -> str:
    col = q(conn, c)
    if c in plan.preserve_non_null:
        return f"COALESCE({new}.{col}, {old}.{col})"
    return f"{new}.{col}"


def insert_sql(conn: Connection, plan: MergePlan, select_sql: str) -> str:
    """Plain ``INSERT ... SELECT`` of ``plan.columns`` (no conflict handling: the caller knows the
    keys are new, e.g. under a lock; a repeated key violates the primary key)."""
    cols = ", ".join(q(conn, c) for c in plan.columns)
    return f"INSERT INTO {q(conn, plan.table.name)} ({cols}) {select_sql}"


def update_changed_sql(conn: Connection, plan: MergePlan, select_sql: str) -> str:
    """``UPDATE ... FROM (select_sql)`` of the rows whose values differ, with the roles of ``plan``
    (the ``DO UPDATE`` half of :func:`merge_sql`): ``preserve_non_null`` kept, ``updated_at`` set
    only on a change, unchanged rows not written. The keys of ``select_sql`` must be distinct."""
    sets = [f"{q(conn, c)} = {_incoming(conn, plan, c, 'src', 'tgt')}" for c in plan.set_columns]
    if plan.has_updated_at and "updated_at" not in plan.set_columns:
        sets.append('"updated_at" = src."updated_at"')
    changed = [
        f"{_incoming(conn, plan, c, 'src', 'tgt')} IS DISTINCT FROM tgt.{q(conn, c)}"
        for c in plan.compare_columns
    ]
    if not sets:
        sets, changed = [f"{q(conn, plan.key[0])} = tgt.{q(conn, plan.key[0])}"], []
    on = " AND ".join(f"tgt.{q(conn, k)} = src.{q(conn, k)}" for k in plan.key)
    return (
        f"UPDATE {q(conn, plan.table.name)} AS tgt SET {', '.join(sets)} FROM ({select_sql}) AS src "
        f"WHERE {on} AND ({' OR '.join(changed) if changed else 'false'})"
    )


def merge_from_select(
    conn: Connection, plan: MergePlan, select_sql: str, params: Mapping[str, Any] | None = None
) -> tuple[int, int]:
    """Run the merge; returns (inserted, updated). Unchanged = rows selected - both."""
    row = conn.exec_driver_sql(merge_sql(conn, plan, select_sql), dict(params or {})).one()
    return int(row[0]), int(row[1])


def create_temp_like(
    conn: Connection, table: sa.Table, columns: Sequence[str], *, ordinal: bool = False
) -> str:
    """An empty temp table with ``table``'s column types (dropped at commit)."""
    name = temp_name(f"cfp_{table.name}")
    cols = ", ".join(q(conn, c) for c in columns)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {q(conn, name)} ON COMMIT DROP AS "
        f"SELECT {cols} FROM {q(conn, table.name)} WITH NO DATA"
    )
    if ordinal:
        conn.exec_driver_sql(
            f"ALTER TABLE {q(conn, name)} ADD COLUMN _ord bigint GENERATED ALWAYS AS IDENTITY"
        )
    return name


def copy_rows(
    conn: Connection, target: str, columns: Sequence[str], rows: Iterable[Any], json_columns=()
) -> int:
    """COPY Python rows (tuples in ``columns`` order, or mappings) into ``target``."""
    from psycopg.types.json import Jsonb

    json_idx = [i for i, c in enumerate(columns) if c in set(json_columns)]
    cols = ", ".join(q(conn, c) for c in columns)
    n = 0
    with (
        driver_connection(conn).cursor() as cur,
        cur.copy(f"COPY {q(conn, target)} ({cols}) FROM STDIN") as cp,
    ):
        for r in rows:
            values = [r[c] for c in columns] if isinstance(r, Mapping) else list(r)
            for i in json_idx:
                if values[i] is not None:
                    values[i] = Jsonb(values[i])
            cp.write_row(values)
            n += 1
    return n


def copy_csv(
    conn: Connection, target: str, columns: Sequence[str], stream: BinaryIO | TextIO, *, header: bool
) -> int:
    """COPY a CSV stream (UTF-8) into ``target`` in chunks; returns the rows copied."""
    cols = ", ".join(q(conn, c) for c in columns)
    opts = "FORMAT csv, HEADER true" if header else "FORMAT csv"
    with driver_connection(conn).cursor() as cur:
        with cur.copy(f"COPY {q(conn, target)} ({cols}) FROM STDIN ({opts})") as cp:
            while chunk := stream.read(COPY_CHUNK):
                cp.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
        return cur.rowcount


def copy_merge(
    conn: Connection,
    table: sa.Table,
    rows_or_stream: Iterable[Mapping[str, Any]] | BinaryIO | TextIO,
    key: Sequence[str],
    *,
    columns: Sequence[str] | None = None,
    update_columns: Sequence[str] | None = None,
    preserve_non_null: Sequence[str] | None = None,
    now: datetime | None = None,
) -> UpsertResult:
    """Merge many rows into ``table`` through COPY (PostgreSQL). Same semantics as ``upsert``.

    ``rows_or_stream``: mappings (columns from the first one, or ``columns``), or a CSV stream
    whose header names the table columns. A key repeated in the input keeps its last row.
    """
    require_postgres(conn)
    now = now or utcnow()
    stream: BinaryIO | TextIO | None = None
    if hasattr(rows_or_stream, "read"):  # duck-typed: any file-like object, not only io classes
        stream = cast("BinaryIO | TextIO", rows_or_stream)
        first = stream.readline()
        text = first.decode("utf-8-sig") if isinstance(first, bytes) else first.lstrip("\ufeff")
        columns = next(csv.reader(io.StringIO(text)))
        rows_iter: Any = None
    else:
        it = iter(rows_or_stream)
        head = next(it, None)
        if head is None:
            return UpsertResult()
        columns = list(columns or head.keys())
        rows_iter = _chain(head, it)
    plan = plan_merge(table, columns, key, update_columns=update_columns, preserve_non_null=preserve_non_null)
    data_cols = [c for c in plan.columns if c in columns]
    tmp = create_temp_like(conn, table, data_cols, ordinal=True)
    json_cols = [c.name for c in table.c if isinstance(c.type, sa.JSON)]
    if stream is not None:
        total = copy_csv(conn, tmp, data_cols, stream, header=False)  # header already consumed
    else:
        total = copy_rows(conn, tmp, data_cols, rows_iter, json_cols)
    distinct_q = (
        f"SELECT DISTINCT ON ({', '.join(q(conn, k) for k in plan.key)}) * FROM {q(conn, tmp)} "
        f"ORDER BY {', '.join(q(conn, k) for k in plan.key)}, _ord DESC"
    )
    select_cols = [
        q(conn, c) if c in data_cols else f"%(now)s::timestamptz AS {q(conn, c)}" for c in plan.columns
    ]
    select_sql = f"SELECT {', '.join(select_cols)} FROM ({distinct_q}) AS d"
    distinct = conn.exec_driver_sql(f"SELECT count(*) FROM ({distinct_q}) AS d").scalar_one()
    inserted, updated = merge_from_select(conn, plan, select_sql, {"now": now})
    conn.exec_driver_sql(f"DROP TABLE {q(conn, tmp)}")
    return UpsertResult(inserted, updated, distinct - inserted - updated, total - distinct)


def _chain(head: Any, rest: Iterable[Any]) -> Iterable[Any]:
    yield head
    yield from rest
