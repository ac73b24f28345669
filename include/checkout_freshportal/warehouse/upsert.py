"""Idempotent merge of rows into a table keyed by a business key, on SQLite and PostgreSQL.

``INSERT ... ON CONFLICT (key) DO UPDATE SET ... WHERE <some column IS DISTINCT FROM excluded>``:
a row whose values did not change is not touched at all, so repeating a load changes nothing,
``updated_at`` moves only on a real change, and no dead tuples pile up on PostgreSQL.

Counting what happened, exactly, on both engines, in the same single statement:

* PostgreSQL: ``RETURNING (xmax = 0)``; a freshly inserted tuple has no deleting/locking
  transaction, an updated one has;
* SQLite (>= 3.35 for RETURNING): ``RETURNING first_seen_at``; the insert path writes this call's
  timestamp, the update path keeps the stored (earlier) one. Tables without ``first_seen_at`` fall
  back to reading the existing keys first.

Rows the ``WHERE`` leaves alone are not returned, so ``unchanged = distinct rows - returned``.
Rows are sent with executemany (SQLAlchemy's batched multi-VALUES "insertmanyvalues") inside the
caller's transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock
from checkout_freshportal.warehouse.schema import BOOKKEEPING_COLUMNS, LINEAGE_COLUMNS, PRESERVE_NON_NULL

#: Rows per statement; SQLAlchemy further splits by the driver's parameter limit.
BATCH_SIZE = 1000


@dataclass(frozen=True)
class UpsertResult:
    """What a merge did. ``duplicates`` counts input rows that repeated a key of the same call
    (the last one wins; they are not in the other three counts)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.duplicates

    @property
    def changed(self) -> int:
        return self.inserted + self.updated

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.duplicates + other.duplicates,
        )


@dataclass(frozen=True)
class MergePlan:
    """Which columns a merge writes, compares and protects; shared with the COPY bulk path."""

    table: sa.Table
    columns: tuple[str, ...]  # inserted, in order (bookkeeping included)
    key: tuple[str, ...]
    set_columns: tuple[str, ...]  # overwritten on a change
    compare_columns: tuple[str, ...]  # a difference in one of these is a change
    preserve_non_null: tuple[str, ...]
    has_updated_at: bool
    has_first_seen_at: bool


def plan_merge(
    table: sa.Table,
    columns: Iterable[str],
    key: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    preserve_non_null: Sequence[str] | None = None,
) -> MergePlan:
    """Work out the column roles of a merge into ``table`` of rows carrying ``columns``.

    ``update_columns`` None: every non-key column the rows carry. Lineage columns (``source``,
    ``source_file_id``) are written along with a change but do not make one. ``preserve_non_null``
    None: the table's defaults from ``schema.PRESERVE_NON_NULL``; ``()`` to switch them off.
    """
    cols = list(dict.fromkeys(columns))
    unknown = [c for c in [*cols, *key] if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: unknown column(s) {unknown}")
    missing_key = [k for k in key if k not in cols]
    if missing_key:
        raise ValueError(f"{table.name}: rows lack key column(s) {missing_key}")
    has_updated_at = "updated_at" in table.c
    has_first_seen_at = "first_seen_at" in table.c
    for c in BOOKKEEPING_COLUMNS:
        if c in table.c and c not in cols:
            cols.append(c)
    if update_columns is None:
        set_cols = [c for c in cols if c not in key and c not in BOOKKEEPING_COLUMNS]
    else:
        bad = [c for c in update_columns if c not in cols or c in key]
        if bad:
            raise ValueError(f"{table.name}: update_columns {bad} are keys or not in the rows")
        set_cols = list(update_columns)
    preserve = (
        PRESERVE_NON_NULL.get(table.name, ()) if preserve_non_null is None else tuple(preserve_non_null)
    )
    preserve = tuple(c for c in preserve if c in set_cols)
    if preserve_non_null is not None:
        bad = [c for c in preserve_non_null if c not in table.c]
        if bad:
            raise ValueError(f"{table.name}: preserve_non_null names unknown column(s) {bad}")
    compare = tuple(c for c in set_cols if c not in LINEAGE_COLUMNS)
    return MergePlan(
        table=table,
        columns=tuple(cols),
        key=tuple(key),
        set_columns=tuple(set_cols),
        compare_columns=compare,
        preserve_non_null=preserve,
        has_updated_at=has_updated_at,
        has_first_seen_at=has_first_seen_at,
    )


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    preserve_non_null: Sequence[str] | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> UpsertResult:
    """Insert new rows, update changed ones, leave identical ones alone; return the counts.

    All rows must carry the same columns (a missing column would silently mean NULL). A key that
    repeats within ``rows`` keeps its last occurrence. ``first_seen_at``/``updated_at`` are set
    to ``now`` (default: the current UTC time) unless the rows carry them.
    """
    if not rows:
        return UpsertResult()
    first_cols = _same_columns(table, rows)
    colset = set(first_cols)
    plan = plan_merge(
        table, first_cols, key, update_columns=update_columns, preserve_non_null=preserve_non_null
    )
    now = now or utcnow()
    deduped = _dedupe(rows, plan, colset, now)
    duplicates = len(rows) - len(deduped)
    values = list(deduped.values())

    dialect = conn.dialect.name
    if dialect not in {"postgresql", "sqlite"}:
        raise NotImplementedError(f"upsert supports postgresql and sqlite, not {dialect}")
    claim_sqlite_write_lock(conn)
    count_by_first_seen = dialect == "sqlite" and plan.has_first_seen_at and "first_seen_at" not in colset
    existing: set[tuple] | None = None
    if dialect == "sqlite" and not count_by_first_seen:
        existing = _existing_keys(conn, table, plan.key, list(deduped))

    inserted = updated = 0
    stmt = _statement(plan, dialect, now)  # one statement for every chunk
    for start in range(0, len(values), batch_size):
        for ret in conn.execute(stmt, values[start : start + batch_size]):
            if _is_insert(ret, plan, dialect, now, count_by_first_seen, existing):
                inserted += 1
            else:
                updated += 1
    unchanged = len(values) - inserted - updated
    return UpsertResult(inserted, updated, unchanged, duplicates)


def _same_columns(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The columns of ``rows[0]``, refusing a row with others: a missing column would silently
    mean NULL."""
    first_cols = tuple(rows[0].keys())
    colset = set(first_cols)
    for i, r in enumerate(rows):
        if set(r.keys()) != colset:
            diff = sorted(set(r.keys()) ^ colset)
            raise ValueError(f"{table.name}: row {i} has different columns than row 0: {diff}")
    return first_cols


def _dedupe(
    rows: Sequence[Mapping[str, Any]], plan: MergePlan, colset: set[str], now: datetime
) -> dict[tuple, dict[str, Any]]:
    """The rows by key, the last occurrence winning (one statement cannot touch a key twice),
    with the bookkeeping columns the rows do not carry set to ``now``."""
    deduped: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        row = dict(r)
        for c in BOOKKEEPING_COLUMNS:
            if c in plan.columns and c not in colset:
                row[c] = now
        deduped[tuple(row[k] for k in plan.key)] = row
    return deduped


def _is_insert(
    ret: sa.Row[Any],
    plan: MergePlan,
    dialect: str,
    now: datetime,
    count_by_first_seen: bool,
    existing: set[tuple] | None,
) -> bool:
    """Whether a RETURNING row was inserted rather than updated: PostgreSQL says so itself; on
    SQLite, ``first_seen_at`` equal to ``now`` says it, or else the key was not there before."""
    if dialect == "postgresql":
        return bool(ret[0])
    if count_by_first_seen:
        return bool(ret[0] == now)
    assert existing is not None
    return tuple(ret[i + 1] for i in range(len(plan.key))) not in existing


def _statement(plan: MergePlan, dialect: str, now: datetime) -> sa.Insert:
    t = plan.table
    ins_mod = postgresql if dialect == "postgresql" else sqlite
    stmt = ins_mod.insert(t)
    ex = stmt.excluded
    if plan.compare_columns or plan.set_columns:
        set_: dict[str, Any] = {}
        for c in plan.set_columns:
            set_[c] = sa.func.coalesce(ex[c], t.c[c]) if c in plan.preserve_non_null else ex[c]
        if plan.has_updated_at and "updated_at" not in plan.set_columns:
            set_["updated_at"] = ex["updated_at"]
        changed = [
            (sa.func.coalesce(ex[c], t.c[c]) if c in plan.preserve_non_null else ex[c]).is_distinct_from(
                t.c[c]
            )
            for c in plan.compare_columns
        ]
        where = sa.or_(*changed) if changed else sa.false()
        stmt = stmt.on_conflict_do_update(index_elements=list(plan.key), set_=set_, where=where)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(plan.key))
    if dialect == "postgresql":
        return stmt.returning(sa.literal_column("(xmax = 0)", sa.Boolean).label("inserted"))
    return stmt.returning(
        t.c.first_seen_at if plan.has_first_seen_at else sa.literal_column("NULL"),
        *[t.c[k] for k in plan.key],
    )


def _existing_keys(conn: Connection, table: sa.Table, key: Sequence[str], keys: list[tuple]) -> set[tuple]:
    """Keys already stored (the generic SQLite counting path; the write lock is already held)."""
    found: set[tuple] = set()
    cols = [table.c[k] for k in key]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        cond = cols[0].in_([k[0] for k in chunk]) if len(cols) == 1 else sa.tuple_(*cols).in_(chunk)
        found.update(tuple(r) for r in conn.execute(sa.select(*cols).where(cond)))
    return found
