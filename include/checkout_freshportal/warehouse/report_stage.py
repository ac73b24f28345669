"""Where converted report lines go: typed rows reach the server once (docs/warehouse.md).

Financial-action lines are routed per batch of blocks by whether their key already exists:

* the keys already staged in the batch's ``processed_on`` window are read once (a range scan of
  the primary key; windows already read are remembered, so an unsorted file does not re-read);
* new keys: PostgreSQL (:class:`CopySink`) COPYs the typed rows straight into
  ``stg_financial_actions``, from a worker thread, so Python converts the next batch while the
  server ingests this one; :class:`RowSink` (SQLite, or PostgreSQL with ``method="rows"``) runs
  one ``executemany`` INSERT;
* existing keys: COPY into a temp table, then one ``UPDATE ... FROM`` with change detection
  (``bulk.update_changed_sql``: payout_id never erased, lineage alone is not a change); the row
  path uses ``upsert``. Counts: inserted, updated, unchanged.

Payouts files (a line per payout, small) go through ``upsert`` on both engines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.bulk import create_temp_like, driver_connection, q, update_changed_sql
from checkout_freshportal.warehouse.report_convert import LineKeys, TypedBlock
from checkout_freshportal.warehouse.upsert import UpsertResult, plan_merge, upsert

#: Lines routed together (one window read, one COPY): large enough to amortise the round trips.
BATCH_LINES = 20_000
CONSTANT_COLUMNS = ("source_file_id", "first_seen_at", "updated_at", "source")
KEY_COLUMNS = ("line_key", "occurrence")
_CSV_PLAIN = pcsv.WriteOptions(include_header=False, quoting_style="none")
_CSV_QUOTED = pcsv.WriteOptions(include_header=False, quoting_style="needed")


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
        self.columns = (*spec.staged_columns, *KEY_COLUMNS, *CONSTANT_COLUMNS)
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

    def flush(self) -> None:
        if not self.pending:
            return
        blocks, self.pending, self.pending_lines = self.pending, [], 0
        keyed = [(b, *self.keys.keys(b)) for b in blocks]
        times = set().union(*(pc.unique(b.array("processed_on")).to_pylist() for b in blocks))
        instants = list(map(datetime.fromisoformat, times))
        for lo, hi in self.windows.missing(min(instants), max(instants)):
            t = time.perf_counter()
            self.existing.update(k.replace("-", "") for k in self.read_keys(lo, hi))
            self.windows.add(lo, hi)
            self._time("read_keys", t)
        self.write(keyed)

    def read_keys(self, lo: datetime, hi: datetime) -> list[str]:
        t = self.table
        return list(
            self.conn.execute(sa.select(t.c.line_key).where(t.c.processed_on >= lo, t.c.processed_on <= hi))
            .scalars()
            .all()
        )

    def write(self, keyed: list[tuple[TypedBlock, list[str], list[str]]]) -> None:
        raise NotImplementedError

    def finish(self) -> UpsertResult:
        self.flush()
        return self.res


# --------------------------------------------------------------------------- PostgreSQL COPY


class _CopyStream:
    """A file-like ``write`` into a COPY: ``write_csv`` streams its chunks (about 1,000 lines
    each) straight to the server, no CSV of a whole batch held in memory."""

    closed = False

    def __init__(self, copy: Any) -> None:
        self._copy = copy

    def write(self, data: Any) -> int:
        self._copy.write(data)
        return len(data)

    def flush(self) -> None:
        pass


class CopySink(_Router):
    """PostgreSQL: COPY of new keys into the table, existing keys via a temp table and UPDATE.

    The worker thread writes each batch's Arrow table as CSV (``pyarrow.csv.write_csv``, C++,
    without the GIL) and COPYs it; ``FORCE_NULL`` turns a quoted ``""`` into NULL as on the row
    path."""

    def __init__(
        self,
        conn: Connection,
        spec: rc.ReportSpec,
        constants: Sequence[str],
        quoted: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(conn, spec, constants)
        #: whether the file read so far holds a quote: only then can a value hold a comma, quote
        #: or line break, which the CSV for COPY must quote (unquoted is less for the server)
        self._quoted = quoted
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="copy-writer")
        self._inflight: Future[None] | None = None
        self._tmp: str | None = None
        self._updates = 0  # existing keys sent to the merge
        self._updated = 0  # of which changed (rows the UPDATEs wrote)
        names = ", ".join(q(conn, c) for c in self.columns)
        self._sql = f"COPY {{}} ({names}) FROM STDIN (FORMAT csv, FORCE_NULL ({names}))"

    def _wait(self) -> None:
        if self._inflight is not None:
            t = time.perf_counter()
            fut, self._inflight = self._inflight, None
            fut.result()
            self._time("copy_wait", t)

    def read_keys(self, lo: datetime, hi: datetime) -> list[str]:
        self._wait()
        return [
            r[0]
            for r in self.conn.exec_driver_sql(
                f"SELECT translate(line_key::text, '-', '') FROM {q(self.conn, self.table.name)} "
                "WHERE processed_on >= %(lo)s AND processed_on <= %(hi)s",
                {"lo": lo, "hi": hi},
            )
        ]

    def _table(self, block: TypedBlock, keys: list[str], occ: list[str]) -> pa.Table:
        consts = [pa.repeat(pa.scalar(c, pa.string()), block.n) for c in self.constants]
        arrays = [*block.arrays, pa.array(keys, pa.string()), pa.array(occ, pa.string()), *consts]
        return pa.Table.from_arrays(arrays, names=list(self.columns))

    def write(self, keyed: list[tuple[TypedBlock, list[str], list[str]]]) -> None:
        new: list[pa.Table] = []
        old: list[pa.Table] = []
        existing = self.existing
        for block, keys, occ in keyed:
            table = self._table(block, keys, occ)
            if existing and not existing.isdisjoint(keys):
                is_old = pa.array([k in existing for k in keys], pa.bool_())
                old.append(table.filter(is_old))
                new.append(table.filter(pc.invert(is_old)))
            else:
                new.append(table)
        self._wait()
        jobs = []
        n_old, n_new = sum(t.num_rows for t in old), sum(t.num_rows for t in new)
        if n_old:
            self._updates += n_old
            jobs.append((self._sql.format(q(self.conn, self._temp())), old))
            jobs.append(("", []))  # then merge them (in the worker, overlapping Python)
        if n_new:
            self.res += UpsertResult(inserted=n_new)
            jobs.append((self._sql.format(q(self.conn, self.table.name)), new))
        if jobs:
            self._inflight = self._pool.submit(self._copy_all, jobs)

    def _copy(self, sql: str, tables: list[pa.Table]) -> None:
        with driver_connection(self.conn).cursor() as cur, cur.copy(sql) as cp:
            for table in tables:
                if table.num_rows:
                    options = _CSV_QUOTED if self._quoted() else _CSV_PLAIN
                    pcsv.write_csv(table, _CopyStream(cp), write_options=options)

    def _copy_all(self, jobs: list[tuple[str, list[pa.Table]]]) -> None:
        for sql, tables in jobs:
            if sql:
                self._copy(sql, tables)
            else:
                self._merge_batch()

    def _merge_batch(self) -> None:
        """``UPDATE ... FROM`` the temp table (this batch's existing keys), then empty it.

        Runs in the worker after the batch's COPY, so the server updates while Python converts
        the next batch. The temp table holds one batch and the target many: index lookups on
        the primary key (hash and merge joins off for this statement) instead of a scan of the
        target per batch. Change detection: ``bulk.update_changed_sql``."""
        t = time.perf_counter()
        tmp = q(self.conn, self._temp())
        plan = plan_merge(self.table, self.columns, self.spec.key)
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
            cur.execute(
                "SELECT set_config('enable_hashjoin', %s, true), set_config('enable_mergejoin', %s, true)",
                (hashjoin, mergejoin),
            )
            cur.execute(f"TRUNCATE {tmp}")
        self._time("update", t)

    def _temp(self) -> str:
        if self._tmp is None:
            self._tmp = create_temp_like(self.conn, self.table, self.columns)
        return self._tmp

    def close(self) -> None:
        """Wait for the COPY in flight (its error, if any, was or will be raised elsewhere)."""
        fut, self._inflight = self._inflight, None
        if fut is not None:
            fut.exception()
        self._pool.shutdown(wait=True)

    def finish(self) -> UpsertResult:
        self.flush()
        self._wait()
        if self._tmp is not None:
            self.conn.exec_driver_sql(f"DROP TABLE {q(self.conn, self._tmp)}")
            self.res += UpsertResult(updated=self._updated, unchanged=self._updates - self._updated)
        return self.res


# --------------------------------------------------------------------------- rows (both engines)


def typed_rows(
    table: sa.Table, columns: Sequence[str], lines: Sequence[Sequence[str]]
) -> list[dict[str, Any]]:
    """Canonical text rows -> Python values for SQLAlchemy (``""`` -> None)."""
    conv: list[Any] = []
    for c in columns:
        t = table.c[c].type
        if isinstance(t, sa.BigInteger | sa.Integer):
            conv.append(int)
        elif isinstance(t, sa.Date):
            conv.append(date.fromisoformat)
        elif isinstance(t, sa.types.TypeDecorator):  # UTCDateTime
            conv.append(datetime.fromisoformat)
        else:
            conv.append(None)
    return [
        {c: (None if v == "" else (f(v) if f else v)) for c, f, v in zip(columns, conv, line, strict=True)}
        for line in lines
    ]


class RowSink(_Router):
    """SQLite (or PostgreSQL with ``method="rows"``): executemany INSERT of new keys, ``upsert``
    of existing ones."""

    def __init__(
        self, conn: Connection, spec: rc.ReportSpec, constants: Sequence[str], now: datetime
    ) -> None:
        super().__init__(conn, spec, constants)
        self.now = now

    def write(self, keyed: list[tuple[TypedBlock, list[str], list[str]]]) -> None:
        new: list[tuple[str, ...]] = []
        old: list[tuple[str, ...]] = []
        for block, keys, occ in keyed:
            for line in zip(*block.values, keys, occ, *([c] * block.n for c in self.constants), strict=True):
                (old if line[-6] in self.existing else new).append(line)
        cols = self.columns
        if new:
            self.conn.execute(sa.insert(self.table), typed_rows(self.table, cols, new))
            self.res += UpsertResult(inserted=len(new))
        if old:
            self.res += upsert(
                self.conn, self.table, typed_rows(self.table, cols, old), self.spec.key, now=self.now
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
