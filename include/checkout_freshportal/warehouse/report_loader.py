"""Load one Checkout.com report CSV file: raw file + staged merge, all or nothing.

``load_report_file`` streams the file once (it may be an HTTP body), hashing it on the way:

* a ``file_id`` already loaded with the same sha256 is skipped (idempotent); with a different
  sha256 it is refused loudly (report files are immutable; a change needs a human);
* columns are mapped by header name (``report_csv``); a missing required column fails at once;
* raw layer: the file's bytes, gzip-compressed as they stream by, in ``raw_report_file_contents``
  (parts of 1 MiB that concatenate to a ``.gz`` file); rejected lines (only when
  ``max_bad_share`` tolerates them) also go to ``raw_report_rows`` with their ``parse_error``.
  :func:`open_raw_report_file` and :func:`iter_raw_report_file` replay a stored file;
* valid lines are merged into ``stg_financial_actions`` (key ``(action_id, breakdown_type)``,
  ``payout_id`` never erased) or ``stg_payouts``;
* if more than ``max_bad_share`` of the lines do not parse (default 0: any), the load fails with
  the first line numbers and reasons, and nothing of the file remains (a savepoint is rolled
  back); a key repeated inside one file or a structurally broken CSV always fails it.

Two implementations with one behaviour: ``"copy"`` (PostgreSQL) and ``"rows"`` (SQLite, or
PostgreSQL on request: validator + ``convert_row`` + batched ``upsert``). Both read the body with
``report_csv.CsvBody`` and validate it with ``report_csv.Validated`` (block checks, else the one
line validator ``make_validator``), so they accept exactly the same lines. Neither holds the file
in memory.

The ``"copy"`` path, in order (``ReportLoadResult.timings`` has the seconds of each phase):

1. ``copy``: the body goes verbatim into a temp table (COPY, sent from a worker thread) while this
   thread hashes and compresses the bytes into a temporary file (the server parsing the CSV is the
   bottleneck here, and zlib and hashlib release the GIL);
2. ``merge`` (``report_sql``): set-based conversions and a split merge (overlap semi-join, plain
   INSERT of the new keys, UPDATE of the changed ones) under an advisory lock on the table. Python
   validates the file (re-read from the compressed copy) in a thread *meanwhile*, so its CPU time
   hides behind the server's; the merge only uses what the first block told (the shapes of the
   timestamp columns, see ``report_sql.ts_expr``);
3. ``validate_wait``: the validation's verdict, waited for before anything is kept. Bad lines, or a
   guess the rest of the file contradicts, roll the merge back (savepoint) and redo it knowing all
   (``merge_redo``), or fail the file; a record count that differs between PostgreSQL's and
   Python's CSV parsers fails it too;
4. ``raw``: the compressed parts, the rejected lines and the ``raw_report_files`` row.
"""

from __future__ import annotations

import copy as copy_module
import csv
import io
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Literal, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse import report_sql
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock, is_postgres
from checkout_freshportal.warehouse.report_raw import (
    CONTENT_ENCODING,
    RawReportLine,  # noqa: F401 (re-exported)
    Spool,
    iter_raw_report_file,  # noqa: F401 (re-exported)
    open_raw_report_file,  # noqa: F401 (re-exported)
    store_content,
)
from checkout_freshportal.warehouse.schema import raw_report_files, raw_report_rows
from checkout_freshportal.warehouse.upsert import MergePlan, UpsertResult, plan_merge, upsert

BATCH_SIZE = 2000
FIRST_BAD_SHOWN = 5
READ_BUFFER = 1 << 20
#: Compressed bytes per row of ``raw_report_file_contents``.
RAW_PART_BYTES = 1 << 20
#: zlib level of the raw copy: 1 compresses report CSVs 5-12x at about 300 MB/s; 6 gains about
#: a quarter in size for three times the CPU.
GZIP_LEVEL = 1
#: COPY chunks queued for the sending thread (bounds memory when the server is the slower side).
COPY_QUEUE = 32
#: Bytes of CSV per block of records (``report_csv.CsvBody``).
BLOCK_BYTES = 1 << 20
#: Settings of the merge statements, restored afterwards: hash joins over the file's lines get
#: room; JIT off because compiling the conversion expressions of a big file costs more than it
#: saves (measured: about 0.5 s per million lines).
MERGE_SETTINGS = {"work_mem": "64MB", "jit": "off"}

Method = Literal["auto", "copy", "rows"]


@dataclass(frozen=True)
class ReportLoadResult:
    rows: int  # data lines in the file
    staged_inserted: int
    staged_updated: int
    staged_unchanged: int
    skipped_already_loaded: bool
    rejected: int = 0  # lines kept in raw with a parse_error (only if max_bad_share > 0)
    rejected_lines: tuple[int, ...] = ()
    sha256: str = ""
    table: str = ""
    method: str = ""
    #: seconds per phase of the load (for logs and the benchmark; not money, so float is fine)
    timings: Mapping[str, float] = field(default_factory=dict)


class _Clock:
    """Accumulates wall time per phase name."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.phases: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.t
        self.t = now


def load_report_file(
    conn: Connection,
    *,
    report_id: str,
    report_type: str,
    file_id: str,
    filename: str,
    stream: BinaryIO | TextIO,
    max_bad_share: float = 0.0,
    method: Method = "auto",
    run_id: str | None = None,
    now: datetime | None = None,
) -> ReportLoadResult:
    """Load ``stream`` (the CSV of ``file_id``) inside the caller's transaction; see the module."""
    spec = rc.spec_for(report_type)
    if not 0 <= max_bad_share <= 1:
        raise ValueError("max_bad_share is a share of lines, between 0 and 1")
    if method == "auto":
        method = "copy" if is_postgres(conn) else "rows"
    if method == "copy" and not is_postgres(conn):
        raise ValueError("method='copy' needs PostgreSQL")
    now = now or utcnow()
    clock = _Clock()
    hashing = rc.HashingReader(stream)
    buffered = io.BufferedReader(hashing, READ_BUFFER)

    with conn.begin_nested():
        claim_sqlite_write_lock(conn)
        done = conn.execute(
            sa.select(raw_report_files.c.sha256, raw_report_files.c.rows).where(
                raw_report_files.c.file_id == file_id
            )
        ).first()
        if done is not None:
            hashing.drain()
            if hashing.hexdigest() != done.sha256:
                raise rc.ReportFileChangedError(
                    f"report file {file_id} was loaded with sha256 {done.sha256} and now reads "
                    f"{hashing.hexdigest()}; refusing to guess which one is right"
                )
            return ReportLoadResult(
                rows=done.rows,
                staged_inserted=0,
                staged_updated=0,
                staged_unchanged=0,
                skipped_already_loaded=True,
                sha256=done.sha256,
                table=spec.table.name,
                method="skipped",
            )
        if is_postgres(conn):
            # Report loaders of one table take turns (the COPY path's overlap must stay true until
            # the commit; the rows path is safe anyway, but waits rather than fail on a conflict).
            report_sql.lock_table(conn, spec.table.name)
        with Spool() as spool:
            hashing.sink = spool.feed
            header, header_lines, header_bytes = _read_header(buffered, file_id)
            hmap = rc.map_header(header, spec)
            job = _Job(conn, spec, hmap, buffered, header_lines, header_bytes, spool, file_id, report_type)
            load = _load_copy if method == "copy" else _load_rows
            total, bad, first_bad, res = load(job, now=now, max_bad_share=max_bad_share, clock=clock)
            hashing.drain()
            spool.finish()
            store_content(conn, file_id, spool)
        conn.execute(
            sa.insert(raw_report_files).values(
                file_id=file_id,
                report_id=report_id,
                report_type=report_type,
                filename=filename,
                sha256=hashing.hexdigest(),
                size_bytes=hashing.size,
                content_encoding=CONTENT_ENCODING,
                content_bytes=spool.size,
                header=list(hmap.header),
                rows=total,
                rows_rejected=bad,
                staged_table=spec.table.name,
                staged_inserted=res.inserted,
                staged_updated=res.updated,
                staged_unchanged=res.unchanged,
                load_method=method,
                loaded_at=now,
                run_id=run_id,
            )
        )
        clock.lap("raw")
    return ReportLoadResult(
        rows=total,
        staged_inserted=res.inserted,
        staged_updated=res.updated,
        staged_unchanged=res.unchanged,
        skipped_already_loaded=False,
        rejected=bad,
        rejected_lines=tuple(n for n, _ in first_bad),
        sha256=hashing.hexdigest(),
        table=spec.table.name,
        method=method,
        timings={k: round(v, 4) for k, v in clock.phases.items()},
    )


def _read_header(buffered: io.BufferedReader[Any], file_id: str) -> tuple[list[str], int, int]:
    """The header record, how many physical lines and bytes it took (quoted newlines are legal)."""
    raw = buffered.readline()
    lines = 1
    while raw and raw.count(b'"') % 2 == 1:
        more = buffered.readline()
        if not more:
            break
        raw += more
        lines += 1
    if not raw.strip():
        raise rc.ReportColumnsError(f"report file {file_id} is empty (no header line)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise rc.ReportFormatError(f"report file {file_id}: header is not UTF-8: {exc.reason}") from None
    return next(csv.reader(io.StringIO(text))), lines, len(raw)


def _check_share(file_id: str, total: int, bad: int, first_bad: list[tuple[int, str]], share: float) -> None:
    if bad and bad > share * total:
        raise rc.ReportRowsError(file_id, bad, total, first_bad)


def _source(report_type: str) -> str:
    return f"report:{report_type}"


# --------------------------------------------------------------------------- shared


@dataclass
class _Job:
    """One file being loaded."""

    conn: Connection
    spec: rc.ReportSpec
    hmap: rc.HeaderMap
    buffered: io.BufferedReader[Any]  # the body (the header has been read)
    header_lines: int
    header_bytes: int
    spool: Spool
    file_id: str
    report_type: str

    def body(self, read: Callable[[int], bytes]) -> rc.CsvBody:
        return rc.CsvBody(read, len(self.hmap.header), self.file_id, self.header_lines, BLOCK_BYTES)


# --------------------------------------------------------------------------- rows (Python)


def _load_rows(
    job: _Job, *, now: datetime, max_bad_share: float, clock: _Clock
) -> tuple[int, int, list[tuple[int, str]], UpsertResult]:
    conn, spec, hmap, file_id = job.conn, job.spec, job.hmap, job.file_id
    records = rc.Validated(
        job.body(job.buffered.read), spec, hmap, keep_all_rejected=max_bad_share > 0, shown=FIRST_BAD_SHOWN
    )
    seen: dict[tuple, int] = {}
    raw_batch: list[dict[str, Any]] = []
    stg_batch: list[dict[str, Any]] = []
    res = UpsertResult()
    source = _source(job.report_type)
    doomed = False  # max_bad_share 0 and a line failed: keep counting, stop writing

    def flush() -> None:
        nonlocal res
        if raw_batch:
            conn.execute(sa.insert(raw_report_rows), raw_batch)
        if stg_batch:
            res += upsert(conn, spec.table, stg_batch, spec.key, now=now)
        raw_batch.clear()
        stg_batch.clear()

    for block, errors in records:
        doomed = doomed or (bool(errors) and not max_bad_share)
        if doomed:
            continue
        for line_no, values in enumerate(block.rows(), block.first):
            err = errors.get(line_no)
            if err is not None:
                raw_batch.append(
                    {
                        "file_id": file_id,
                        "line_no": line_no,
                        "row": dict(zip(hmap.header, values, strict=True)),
                        "parse_error": err,
                    }
                )
                if len(raw_batch) >= BATCH_SIZE:
                    flush()
                continue
            row = rc.convert_row(values, hmap, spec)
            key = rc.key_of(row, spec)
            if key in seen:
                raise rc.ReportDuplicateKeyError(file_id, key, [seen[key], line_no])
            seen[key] = line_no
            row["source"] = source
            row["source_file_id"] = file_id
            stg_batch.append(row)
            if len(stg_batch) >= BATCH_SIZE:
                flush()
    _check_share(file_id, records.total, records.bad, records.first_bad(), max_bad_share)
    flush()
    clock.lap("rows")
    return records.total, records.bad, records.first_bad(), res


# --------------------------------------------------------------------------- copy (PostgreSQL)

_COPY_LINE = re.compile(r"line (\d+)")


class _Validator(threading.Thread):
    """Validates the file from the compressed copy while the server merges (see the module)."""

    def __init__(self, job: _Job, keep_all_rejected: bool) -> None:
        super().__init__(name=f"validate-{job.file_id}", daemon=True)
        self.job = job
        read = job.spool.plain_reader()
        read(job.header_bytes)
        self.records = rc.Validated(
            job.body(read), job.spec, job.hmap, keep_all_rejected=keep_all_rejected, shown=FIRST_BAD_SHOWN
        )
        self.first_block = threading.Event()
        self.guess: dict[str, rc.TsShape] = {}
        self.error: BaseException | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Stop after the current block (the load failed for another reason) and wait."""
        self._cancelled = True
        self.join()

    def run(self) -> None:
        try:
            for _ in self.records:
                if not self.first_block.is_set():
                    self._publish()
                if self._cancelled:
                    return
        except BaseException as exc:  # handed to the loading thread
            self.error = exc
        finally:
            self._publish()

    def _publish(self) -> None:
        if not self.first_block.is_set():
            self.guess = copy_module.deepcopy(self.records.checker.shapes)
            self.first_block.set()


def _queued_writer(cursor: Any) -> Any:
    """A COPY writer that sends from a worker thread with at most ``COPY_QUEUE`` chunks in flight
    (psycopg's ``QueuedLibpqWriter`` queues up to 1024 of them: 128 MiB when the server is slower
    than the file)."""
    import queue

    from psycopg.copy import LibpqWriter

    class Writer(LibpqWriter):
        def __init__(self) -> None:
            super().__init__(cursor)
            self._queue: queue.Queue[bytes] = queue.Queue(maxsize=COPY_QUEUE)
            self._worker: threading.Thread | None = None
            self._error: BaseException | None = None

        def _run(self) -> None:
            try:
                while data := self._queue.get():
                    LibpqWriter.write(self, data)
            except BaseException as exc:  # re-raised by write() or finish()
                self._error = exc
                while self._queue.get():
                    pass  # keep the producer from blocking on a full queue

        def write(self, data: Any) -> None:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="copy-writer", daemon=True)
                self._worker.start()
            if self._error is not None:
                raise self._error
            self._queue.put(bytes(data))

        def finish(self, exc: BaseException | None = None) -> None:
            if self._worker is not None:
                self._queue.put(b"")
                self._worker.join()
            if self._error is not None and exc is None:
                raise self._error
            super().finish(exc)

    return Writer()


def _fits(guess: dict[str, rc.TsShape], final: dict[str, rc.TsShape]) -> bool:
    """Whether the conversions chosen from ``guess`` are exact for every value seen in ``final``."""
    for header, g in guess.items():
        f = final[header]
        if (g.fixed and not f.fixed) or (not g.fixed and not g.long_fraction and f.long_fraction):
            return False
    return True


def _load_copy(
    job: _Job, *, now: datetime, max_bad_share: float, clock: _Clock
) -> tuple[int, int, list[tuple[int, str]], UpsertResult]:
    import psycopg

    from checkout_freshportal.warehouse.bulk import driver_connection

    conn, hmap = job.conn, job.hmap
    settings = {"TimeZone": "UTC", **MERGE_SETTINGS}
    saved = {
        k: conn.exec_driver_sql("SELECT current_setting(%(k)s)", {"k": k}).scalar_one() for k in settings
    }
    _set(conn, settings)
    ncols = len(hmap.header)
    tin = report_sql.create_input_table(conn, ncols)
    clock.lap("setup")
    try:
        with driver_connection(conn).cursor() as cur:
            # The queued writer sends from a worker thread: the server parses chunk k while this
            # thread reads, hashes and compresses chunk k + 1.
            with cur.copy(report_sql.copy_sql(conn, tin, ncols), writer=_queued_writer(cur)) as cp:
                while data := job.buffered.read(report_sql.COPY_CHUNK):
                    cp.write(data)
            copied = cur.rowcount
    except psycopg.Error as exc:
        raise _copy_failed(job, exc) from None
    job.spool.finish()
    clock.lap("copy")

    validator = _Validator(job, keep_all_rejected=max_bad_share > 0)
    validator.start()
    try:
        return _merge_while_validating(job, validator, tin, copied, saved, now, max_bad_share, clock)
    finally:
        if validator.is_alive():
            validator.cancel()


def _merge_while_validating(
    job: _Job,
    validator: _Validator,
    tin: str,
    copied: int,
    saved: Mapping[str, str],
    now: datetime,
    max_bad_share: float,
    clock: _Clock,
) -> tuple[int, int, list[tuple[int, str]], UpsertResult]:
    conn, file_id, hmap = job.conn, job.file_id, job.hmap
    validator.first_block.wait()
    plan = plan_merge(job.spec.table, (*job.spec.staged_columns, "source", "source_file_id"), job.spec.key)
    params = {"file_id": file_id, "source": _source(job.report_type), "now": now}
    gen = report_sql.ReportSQL(conn, job.spec, hmap, tin, shapes=validator.guess)
    attempt = conn.begin_nested()
    failure: BaseException | None = None
    try:
        if validator.error is not None or (validator.records.bad and not max_bad_share):
            counts = (0, 0)  # the file fails anyway: no merge (the verdict still needs every line)
        else:
            counts = _merge(conn, gen, plan, params, file_id, clock)
    except (sa.exc.DBAPIError, rc.ReportDuplicateKeyError) as exc:
        attempt.rollback()  # judged once the validation is done: bad lines explain it, or not
        failure, counts = exc, (0, 0)
    except BaseException:
        attempt.rollback()
        raise
    validator.join()
    clock.lap("validate_wait")
    records = validator.records
    total, bad, first_bad = records.total, records.bad, records.first_bad()
    try:
        if validator.error is not None:
            raise validator.error
        if copied != total:
            raise rc.ReportFormatError(
                f"report file {file_id}: PostgreSQL read {copied} CSV records, Python {total}; "
                "the file is not plain RFC 4180 CSV"
            )
        _check_share(file_id, total, bad, first_bad, max_bad_share)
        shapes = records.checker.shapes
        if bad or not _fits(validator.guess, shapes):
            # Rare: tolerated bad lines, or a later block contradicting the first one's shapes.
            if attempt.is_active:
                attempt.rollback()
            trej = report_sql.create_rejected_table(conn, records.rejected) if bad else None
            gen = report_sql.ReportSQL(conn, job.spec, hmap, tin, shapes=shapes, trej=trej)
            with conn.begin_nested():
                counts = _merge(conn, gen, plan, params, file_id, clock)
            if trej:
                sql, p = gen.rejected_raw_insert()
                conn.exec_driver_sql(sql, {**p, "file_id": file_id})
            clock.lap("merge_redo")
        elif failure is not None:
            raise failure
        else:
            attempt.commit()
    except BaseException:
        if attempt.is_active:
            attempt.rollback()
        raise
    inserted, updated = counts
    _set(conn, saved)
    return total, bad, first_bad, UpsertResult(inserted, updated, total - bad - inserted - updated)


def _set(conn: Connection, settings: Mapping[str, str]) -> None:
    """Transaction-local settings (a rolled-back savepoint reverts them too)."""
    for k, v in settings.items():
        conn.exec_driver_sql("SELECT set_config(%(k)s, %(v)s, true)", {"k": k, "v": v})


def _merge(
    conn: Connection,
    gen: report_sql.ReportSQL,
    plan: MergePlan,
    params: dict[str, Any],
    file_id: str,
    clock: _Clock,
) -> tuple[int, int]:
    """Overlap, duplicate check, INSERT of new keys, UPDATE of changed rows; (inserted, updated)."""
    from checkout_freshportal.warehouse.bulk import q

    ovl, ddl = gen.overlap()
    overlap = conn.exec_driver_sql(ddl).rowcount
    if overlap:
        conn.exec_driver_sql(f"ANALYZE {q(conn, ovl)}")
        dup = conn.exec_driver_sql(gen.duplicate_key(ovl)).first()
        if dup is not None:
            raise rc.ReportDuplicateKeyError(file_id, tuple(dup[:-1]), list(dup[-1]))
    clock.lap("merge_overlap")
    try:
        with conn.begin_nested():
            inserted = conn.exec_driver_sql(gen.insert_new(plan, ovl if overlap else None), params).rowcount
    except sa.exc.IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != "23505":  # unique_violation: a new key twice
            raise
        dup = conn.exec_driver_sql(gen.duplicate_key()).first()
        if dup is None:
            raise
        raise rc.ReportDuplicateKeyError(file_id, tuple(dup[:-1]), list(dup[-1])) from None
    clock.lap("merge_insert")
    updated = 0
    if overlap:
        updated = conn.exec_driver_sql(gen.update_changed(plan, ovl), params).rowcount
        clock.lap("merge_update")
    return inserted, updated


def _copy_failed(job: _Job, exc: Exception) -> rc.ReportLoadError:
    """The error to raise when PostgreSQL refused the COPY: Python's own message if Python's CSV
    reader also finds the file broken (the ``rows`` path gives the same one), else PostgreSQL's."""
    while job.buffered.read(READ_BUFFER):
        pass  # the rest of the file, into the compressed copy
    job.spool.finish()
    read = job.spool.plain_reader()
    read(job.header_bytes)
    try:
        for _ in job.body(read):
            pass
    except rc.ReportFormatError as python_says:
        return python_says
    return _copy_error(exc, job.file_id, job.header_lines, job.hmap)


def _copy_error(exc: Exception, file_id: str, header_lines: int, hmap: rc.HeaderMap) -> rc.ReportLoadError:
    """A COPY failure as a ReportFormatError with the file's line number (the data is not echoed)."""
    diag = getattr(exc, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(exc)).strip()
    primary = re.sub(r'column "c(\d+)"', lambda m: f'column "{hmap.header[int(m.group(1))]}"', primary)
    m = _COPY_LINE.search(getattr(diag, "context", None) or "")
    where = f"line {int(m.group(1)) + header_lines}: " if m else ""
    return rc.ReportFormatError(f"report file {file_id}: {where}{primary}")
