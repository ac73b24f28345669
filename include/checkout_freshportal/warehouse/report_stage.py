"""Where converted report lines go: typed rows reach the server once (docs/warehouse.md).

Financial-action lines are routed per batch of blocks by whether their key already exists:

* the keys already staged in the batch's ``processed_on`` window are read once (a range scan of
  the primary key; windows already read are remembered, so an unsorted file does not re-read);
* new keys: PostgreSQL (:class:`CopySink`) COPYs the typed rows straight into
  ``stg_financial_actions``, from a worker thread, so Python converts the next batch while the
  server ingests this one; :class:`RowSink` (SQLite, or PostgreSQL with ``method="rows"``) runs
  one ``executemany`` INSERT;
* existing keys: COPY into a temp table, then one ``UPDATE ... FROM`` with change detection
  (``bulk.update_changed_sql``: lineage alone is not a change); the row path uses ``upsert``.
  Counts: inserted, updated, unchanged;
* payout ids go to ``stg_financial_action_payouts``, not into the line (schema/stg.py says why):
  for new keys with the line, for existing keys through a merge that writes only a payout id
  the line did not have (or a different one). A file without payout ids never touches them, so
  a payout id is never erased. Count: ``payouts_assigned``.

Payouts files (a line per payout, small) go through ``upsert`` on both engines.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.warehouse import report_binary as rb
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.bulk import (
    create_temp_like,
    driver_connection,
    merge_sql,
    q,
    update_changed_sql,
)
from checkout_freshportal.warehouse.report_convert import (
    IDENTITY_COLUMNS,
    LineKeys,
    TypedBlock,
    content_hashes,
)
from checkout_freshportal.warehouse.schema import stg_financial_action_payouts
from checkout_freshportal.warehouse.upsert import UpsertResult, plan_merge, upsert

#: Lines routed together (one window read, one COPY): large enough to amortise the round trips.
BATCH_LINES = 20_000
CONSTANT_COLUMNS = ("source_file_id", "first_seen_at", "updated_at", "source")
#: Computed per line by the converter: its key, which copy of an identity it is, its content hash.
DERIVED_COLUMNS = ("line_key", "occurrence", "content_hash")
Keyed = tuple[TypedBlock, list[str], list[str], pa.Array]  # a block, its keys, occurrences, hashes
PAYOUT = "payout_id"


class Windows:
    """The ``processed_on`` intervals whose existing keys were read, merged and sorted."""

    def __init__(self) -> None:
        self._spans: list[tuple[datetime, datetime]] = []

    def missing(self, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
        """Parts of ``[lo, hi]`` not read yet (boundaries may be read twice: harmless)."""
        out: list[tuple[datetime, datetime]] = []
        cur = lo
        for a, b in self._spans:
            if b < cur:
                continue
            if a > hi:
                break
            if a > cur:
                out.append((cur, a))
            cur = b
            if cur >= hi:
                return out
        out.append((cur, hi))
        return out

    def add(self, lo: datetime, hi: datetime) -> None:
        spans = sorted([*self._spans, (lo, hi)])
        merged: list[tuple[datetime, datetime]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self._spans = merged


class _Router:
    """Batches converted blocks, keys them, and splits new from existing keys (shared by sinks)."""

    def __init__(self, conn: Connection, spec: rc.ReportSpec, constants: Sequence[str]) -> None:
        self.conn, self.spec, self.constants = conn, spec, list(constants)
        self.table = spec.table
        #: what the converter and the router carry (payout_id included)
        self.columns = (*spec.staged_columns, *DERIVED_COLUMNS, *CONSTANT_COLUMNS)
        #: what the content hash covers: the values the key does not already fix (not the
        #: identity, not minor units, which follow from an identity's amount and currency)
        self.hashed = tuple(
            c
            for c in spec.staged_columns
            if c not in (*spec.key, PAYOUT, *IDENTITY_COLUMNS) and not c.endswith("_minor")
        )
        #: what goes into the line's table, and into the payout table
        self.line_columns = tuple(c for c in self.columns if c != PAYOUT)
        self.payouts = stg_financial_action_payouts
        self.payout_columns = (*spec.key, PAYOUT, *CONSTANT_COLUMNS)
        self.payouts_assigned = 0
        self.keys = LineKeys()
        self.windows = Windows()
        self.existing: set[str] = set()
        self.pending: list[TypedBlock] = []
        self.pending_lines = 0
        self.res = UpsertResult()
        #: seconds per server-side phase (``ReportLoadResult.timings``)
        self.timings: dict[str, float] = {}

    def _time(self, name: str, since: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - since

    def add(self, block: TypedBlock) -> None:
        if block.n:
            self.pending.append(block)
            self.pending_lines += block.n
        if self.pending_lines >= BATCH_LINES:
            self.flush()

    def _take(self) -> tuple[list[Keyed], datetime, datetime]:
        """The pending blocks keyed and hashed, and the ``processed_on`` window they cover."""
        blocks, self.pending, self.pending_lines = self.pending, [], 0
        spans = [pc.min_max(b.typed["processed_on"]).as_py() for b in blocks]
        return self._keyed(blocks), min(s["min"] for s in spans), max(s["max"] for s in spans)

    def flush(self) -> None:
        if not self.pending:
            return
        keyed, lo, hi = self._take()
        for a, b in self.windows.missing(lo, hi):
            t = time.perf_counter()
            self.existing.update(k.replace("-", "") for k in self.read_keys(a, b))
            self.windows.add(a, b)
            self._time("read_keys", t)
        self.write(keyed)

    def read_keys(self, lo: datetime, hi: datetime) -> list[str]:
        t = self.table
        return list(
            self.conn.execute(sa.select(t.c.line_key).where(t.c.processed_on >= lo, t.c.processed_on <= hi))
            .scalars()
            .all()
        )

    def _keyed(self, blocks: list[TypedBlock]) -> list[Keyed]:
        return [(b, *self.keys.keys(b), content_hashes(b, self.hashed)) for b in blocks]

    def write(self, keyed: list[Keyed]) -> None:
        raise NotImplementedError

    def finish(self) -> UpsertResult:
        self.flush()
        return self.res


# --------------------------------------------------------------------------- PostgreSQL COPY


class CopySink(_Router):
    """PostgreSQL: binary COPY of new keys into the table, existing keys via a temp table and UPDATE.

    The main thread converts and keys a batch and types it for binary COPY
    (:mod:`report_binary`); a worker thread, which alone uses the connection while a batch is in
    flight, reads the existing keys of the batch's window, splits new from existing keys and
    COPYs/merges them. So the server ingests batch N while Python converts batch N+1, and the
    main thread only waits when the server is slower than the conversion (``copy_wait``)."""

    def __init__(self, conn: Connection, spec: rc.ReportSpec, constants: Sequence[str]) -> None:
        super().__init__(conn, spec, constants)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="copy-writer")
        self._inflight: Future[None] | None = None
        self._tmp: str | None = None
        self._updates = 0  # existing keys sent to the merge
        self._updated = 0  # of which changed (rows the UPDATEs wrote)
        self._payout_tmp: str | None = None
        self._paid: dict[str, str] = {}  # existing key -> its payout id (keys read that have one)
        self._hash_of: dict[str, int | None] = {}  # existing key -> its content hash (None: not stored)
        self._types = [
            rb.arrow_type((self.table.c if c in self.table.c else self.payouts.c)[c]) for c in self.columns
        ]

    def _copy_sql(self, target: str, columns: Sequence[str]) -> str:
        names = ", ".join(q(self.conn, c) for c in columns)
        return f"COPY {q(self.conn, target)} ({names}) FROM STDIN (FORMAT binary)"

    def _wait(self) -> None:
        if self._inflight is not None:
            t = time.perf_counter()
            fut, self._inflight = self._inflight, None
            fut.result()
            self._time("copy_wait", t)

    def flush(self) -> None:
        """Key, hash and type the pending blocks on this thread, then hand them to the worker
        once it is done with the previous batch (one batch in flight bounds memory)."""
        if not self.pending:
            return
        keyed, lo, hi = self._take()
        tables = [self._table(*k) for k in keyed]
        self._wait()
        self._inflight = self._pool.submit(self._write_batch, tables, lo, hi)

    def read_keys(self, lo: datetime, hi: datetime) -> list[str]:
        """Existing keys of ``[lo, hi]`` as 32 hex digits (called by the worker); their content
        hashes go to ``self._hash_of``, the payout ids they have to ``self._paid``."""
        where = "WHERE processed_on >= %(lo)s AND processed_on <= %(hi)s"
        window = {"lo": lo, "hi": hi}
        with driver_connection(self.conn).cursor() as cur:
            # One string of 32-digit keys instead of a row each: a row per key costs Python time
            # on this thread, which the main thread needs for converting the next batch.
            cur.execute(
                "SELECT string_agg(translate(line_key::text, '-', '') || "
                f"coalesce(content_hash::text, ''), ',') FROM {q(self.conn, self.table.name)} {where}",
                window,
            )
            joined = cur.fetchone()[0]
            payouts = q(self.conn, self.payouts.name)
            cur.execute(
                f"SELECT translate(line_key::text, '-', ''), payout_id FROM {payouts} {where}", window
            )
            self._paid.update(cur.fetchall())
        keys = [] if joined is None else joined.split(",")
        self._hash_of.update((k[:32], int(k[32:]) if len(k) > 32 else None) for k in keys)
        return keys

    def _table(
        self, block: TypedBlock, keys: list[str], occ: list[str], hashes: pa.Array
    ) -> tuple[pa.Table, list[str]]:
        """The batch's lines typed for the binary COPY, in :attr:`columns` order (payout id included:
        the worker splits it off), and their keys, both in primary-key order.

        Key order is for the server: a btree takes keys arriving in order on the pages it just
        wrote, where a file's order (requested time, processed up to hours later) sends each
        insert down to another leaf. Sorting here (Arrow, outside the GIL) while the worker is
        sending the previous batch took a fresh load's server CPU from about 6.5 to 5.7 s per
        1,000,000 lines (docs/warehouse.md "Performance")."""
        n, types = block.n, self._types
        width = len(block.arrays)
        arrays = [
            block.typed[c] if c in block.typed else rb.typed(a, t)
            for c, a, t in zip(block.columns, block.arrays, types, strict=False)
        ]
        arrays.append(rb.uuid_bytes(keys))
        arrays.append(pa.array(occ, pa.string()).cast(types[width + 1]))
        arrays.append(hashes)
        arrays += [rb.constant(c, t, n) for c, t in zip(self.constants, types[width + 3 :], strict=True)]
        table = pa.Table.from_arrays(arrays, names=list(self.columns))
        order = pc.sort_indices(table, [(c, "ascending") for c in self.spec.key])
        return table.take(order), [keys[i] for i in order.to_pylist()]

    def _write_batch(self, tables: list[tuple[pa.Table, list[str]]], lo: datetime, hi: datetime) -> None:
        """Worker: read the window's existing keys once, then COPY new keys and merge the rest."""
        for a, b in self.windows.missing(lo, hi):
            t = time.perf_counter()
            self.read_keys(a, b)
            self.windows.add(a, b)
            self._time("read_keys", t)
        new: list[tuple[pa.Table, list[str]]] = []
        old: list[tuple[pa.Table, list[str]]] = []
        existing = self._hash_of
        for table, keys in tables:
            if existing and not existing.keys().isdisjoint(keys):
                flags = [k in existing for k in keys]
                is_old = pa.array(flags, pa.bool_())
                old.append((table.filter(is_old), [k for k, f in zip(keys, flags, strict=True) if f]))
                new.append(
                    (table.filter(pc.invert(is_old)), [k for k, f in zip(keys, flags, strict=True) if not f])
                )
            else:
                new.append((table, keys))
        t = time.perf_counter()
        n_old, n_new = sum(t.num_rows for t, _ in old), sum(t.num_rows for t, _ in new)
        if n_old:
            self._updates += n_old
            changed = self._changed(old)
            if changed:
                self._copy(self._temp(), self.line_columns, changed)
                self._merge_batch()
        if n_new:
            self._copy(self.table.name, self.line_columns, [t for t, _ in new])
            self.res += UpsertResult(inserted=n_new)
        self._payouts([*old, *new])
        # A key comes once per file (occurrences tell copies apart): what was read for the keys
        # of this batch is not needed again, and dropping it bounds memory to the unread part.
        for _, keys in old:
            for k in keys:
                del self._hash_of[k]
                self._paid.pop(k, None)
        if self._paid:  # payout rows of new lines (left behind by deleted lines): rare
            for _, keys in new:
                for k in keys:
                    self._paid.pop(k, None)
        self._time("copy", t)

    def _changed(self, old: list[tuple[pa.Table, list[str]]]) -> list[pa.Table]:
        """The existing lines whose content hash differs from the stored one (or that have none
        stored): only these go to the server to be compared in full and updated."""
        out = []
        hash_of = self._hash_of
        for table, keys in old:
            hashes = table.column("content_hash").to_pylist()
            differs = [hash_of[k] != h for k, h in zip(keys, hashes, strict=True)]
            if any(differs):
                out.append(table.filter(pa.array(differs, pa.bool_())))
        return out

    def _payouts(self, lines: list[tuple[pa.Table, list[str]]]) -> None:
        """Payout ids of the batch's lines: COPYed where the line has none recorded, merged where
        it has another (rare), nothing where it has this one or the file names none. A payout
        row may exist for a line that does not (lines deleted by hand): it is merged too."""
        fresh: list[pa.Table] = []
        changed: list[pa.Table] = []
        paid = self._paid
        for table, keys in lines:
            if table.column(PAYOUT).null_count == table.num_rows:
                continue
            is_fresh, is_changed = [], []
            for key, payout in zip(keys, table.column(PAYOUT).to_pylist(), strict=True):
                had = paid.get(key)
                is_fresh.append(payout is not None and had is None)
                is_changed.append(payout is not None and had is not None and payout != had)
            if any(is_fresh):
                fresh.append(table.filter(pa.array(is_fresh, pa.bool_())).select(list(self.payout_columns)))
            if any(is_changed):
                changed.append(
                    table.filter(pa.array(is_changed, pa.bool_())).select(list(self.payout_columns))
                )
        t = time.perf_counter()
        if fresh:
            self._copy(self.payouts.name, self.payout_columns, fresh)
            self.payouts_assigned += sum(f.num_rows for f in fresh)
        if changed:
            self._copy(self._payout_temp(), self.payout_columns, changed)
            self._merge_payouts()
        self._time("payouts", t)

    def _copy(self, target: str, columns: Sequence[str], tables: list[pa.Table]) -> None:
        """One binary COPY of ``tables``' ``columns`` into ``target`` (same transaction)."""
        with driver_connection(self.conn).cursor() as cur, cur.copy(self._copy_sql(target, columns)) as cp:
            for chunk in rb.encode([t.select(list(columns)) for t in tables if t.num_rows]):
                cp.write(chunk)

    def _merge_payouts(self) -> None:
        """Another payout id for lines that had one (the merge writes only real changes)."""
        tmp = q(self.conn, self._payout_temp())
        plan = plan_merge(self.payouts, self.payout_columns, self.spec.key)
        cols = ", ".join(q(self.conn, c) for c in plan.columns)
        with driver_connection(self.conn).cursor() as cur:
            cur.execute(merge_sql(self.conn, plan, f"SELECT {cols} FROM {tmp}"))
            inserted, updated = cur.fetchone()
            self.payouts_assigned += inserted + updated
            cur.execute(f"TRUNCATE {tmp}")

    def _merge_batch(self) -> None:
        """``UPDATE ... FROM`` the temp table (this batch's existing keys), then empty it.

        The temp table holds one batch and the target many: index lookups on the primary key
        (hash and merge joins off for this statement) instead of a scan of the target per batch.
        Change detection: ``bulk.update_changed_sql``."""
        t = time.perf_counter()
        tmp = q(self.conn, self._temp())
        plan = plan_merge(self.table, self.line_columns, self.spec.key)
        cols = ", ".join(q(self.conn, c) for c in plan.columns)
        with driver_connection(self.conn).cursor() as cur:
            cur.execute(
                "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'), "
                "set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true)"
            )
            hashjoin, mergejoin = cur.fetchone()[:2]
            cur.execute(update_changed_sql(self.conn, plan, f"SELECT {cols} FROM {tmp}"))
            self._updated += cur.rowcount
            cur.execute(_fill_hashes_sql(self.conn, self.table.name, tmp))
            cur.execute(
                "SELECT set_config('enable_hashjoin', %s, true), set_config('enable_mergejoin', %s, true)",
                (hashjoin, mergejoin),
            )
            cur.execute(f"TRUNCATE {tmp}")
        self._time("update", t)

    def _temp(self) -> str:
        if self._tmp is None:
            self._tmp = create_temp_like(self.conn, self.table, self.line_columns)
        return self._tmp

    def _payout_temp(self) -> str:
        if self._payout_tmp is None:
            self._payout_tmp = create_temp_like(self.conn, self.payouts, self.payout_columns)
        return self._payout_tmp

    def close(self) -> None:
        """Wait for the batch in flight (its error, if any, was or will be raised elsewhere)."""
        fut, self._inflight = self._inflight, None
        if fut is not None:
            fut.exception()
        self._pool.shutdown(wait=True)

    def finish(self) -> UpsertResult:
        """The last batch, then the counts (the temp tables go with the savepoint otherwise)."""
        self.flush()
        self._wait()
        for tmp in (self._tmp, self._payout_tmp):
            if tmp is not None:
                self.conn.exec_driver_sql(f"DROP TABLE {q(self.conn, tmp)}")
        self.res += UpsertResult(updated=self._updated, unchanged=self._updates - self._updated)
        return self.res


# --------------------------------------------------------------------------- rows (both engines)


def typed_rows(
    table: sa.Table, columns: Sequence[str], lines: Sequence[Sequence[str]], *others: sa.Table
) -> list[dict[str, Any]]:
    """Canonical text rows -> Python values for SQLAlchemy (``""`` -> None); a column not in
    ``table`` is typed as in the first of ``others`` that has it."""
    conv: list[Any] = []
    for c in columns:
        t = next(x for x in (table, *others) if c in x.c).c[c].type
        if isinstance(t, sa.BigInteger | sa.Integer):
            conv.append(int)
        elif isinstance(t, sa.Date):
            conv.append(date.fromisoformat)
        elif isinstance(t, sa.types.TypeDecorator):  # UTCDateTime
            conv.append(datetime.fromisoformat)
        else:
            conv.append(None)
    return [
        {
            c: (None if v is None or v == "" else (f(v) if f else v))
            for c, f, v in zip(columns, conv, line, strict=True)
        }
        for line in lines
    ]


def _fill_hashes_sql(conn: Connection, table: str, tmp: str) -> str:
    """Content hashes for lines staged before they existed (NULL): an unchanged line is never
    rewritten, so without this it would be compared in full on every later overlapping file."""
    t = q(conn, table)
    return (
        f"UPDATE {t} AS tgt SET content_hash = src.content_hash FROM {tmp} AS src "
        "WHERE tgt.processed_on = src.processed_on AND tgt.line_key = src.line_key "
        "AND tgt.content_hash IS NULL"
    )


class RowSink(_Router):
    """SQLite (or PostgreSQL with ``method="rows"``): executemany INSERT of new keys, ``upsert``
    of existing ones."""

    def __init__(
        self, conn: Connection, spec: rc.ReportSpec, constants: Sequence[str], now: datetime
    ) -> None:
        super().__init__(conn, spec, constants)
        self.now = now

    def write(self, keyed: list[Keyed]) -> None:
        new: list[tuple[str, ...]] = []
        old: list[tuple[str, ...]] = []
        key_at = self.columns.index("line_key")
        for block, keys, occ, hashes in keyed:
            constants = ([c] * block.n for c in self.constants)
            for line in zip(*block.values, keys, occ, hashes.to_pylist(), *constants, strict=True):
                (old if line[key_at] in self.existing else new).append(line)
        for part, is_new in ((new, True), (old, False)):
            if not part:
                continue
            rows = typed_rows(self.table, self.columns, part, self.payouts)
            paid = [{c: r[c] for c in self.payout_columns} for r in rows if r[PAYOUT] is not None]
            for r in rows:
                del r[PAYOUT]
            if is_new:
                self.conn.execute(sa.insert(self.table), rows)
                self.res += UpsertResult(inserted=len(rows))
            else:
                self.res += upsert(self.conn, self.table, rows, self.spec.key, now=self.now)
                self._fill_hashes(rows)
            if paid:  # merged even for new lines: a payout row may outlive a line deleted by hand
                got = upsert(self.conn, self.payouts, paid, self.spec.key, now=self.now)
                self.payouts_assigned += got.inserted + got.updated

    def _fill_hashes(self, rows: list[dict[str, Any]]) -> None:
        """Content hashes for existing lines staged before they existed (see
        :func:`_fill_hashes_sql`; ``upsert`` leaves an unchanged line alone)."""
        t = self.table
        self.conn.execute(
            sa.update(t)
            .where(
                t.c.processed_on == sa.bindparam("p_on"),
                t.c.line_key == sa.bindparam("p_key"),
                t.c.content_hash.is_(None),
            )
            .values(content_hash=sa.bindparam("p_hash")),
            [{"p_on": r["processed_on"], "p_key": r["line_key"], "p_hash": r["content_hash"]} for r in rows],
        )


def stage_payouts(
    conn: Connection,
    spec: rc.ReportSpec,
    blocks: Sequence[TypedBlock],
    constants: Sequence[str],
    now: datetime,
) -> UpsertResult:
    """Payouts lines (one per payout id; a repeated id fails the file) through ``upsert``."""
    columns = (*spec.staged_columns, *CONSTANT_COLUMNS)
    seen: dict[str, int] = {}
    for b in blocks:
        for n, payout_id in enumerate(b.column("payout_id"), b.first):
            if payout_id in seen:
                raise rc.ReportDuplicateKeyError(str(constants[0]), (payout_id,), [seen[payout_id], n])
            seen[payout_id] = n
    lines = [line for b in blocks for line in zip(*b.values, *([c] * b.n for c in constants), strict=True)]
    if not lines:
        return UpsertResult()
    return upsert(conn, spec.table, typed_rows(spec.table, columns, lines), spec.key, now=now)
