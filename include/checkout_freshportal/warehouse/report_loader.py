"""Load one Checkout.com report CSV file: raw file + staged lines, all or nothing.

``load_report_file`` streams the file once (it may be an HTTP body), hashing it on the way:

* a ``file_id`` already loaded with the same sha256 is skipped (idempotent); with a different
  sha256 it is refused loudly (report files are immutable; a change needs a human);
* columns are mapped by header name (``report_csv``); a missing required column fails at once;
  a 0-byte file (no header) and a header-only file load as 0 lines;
* raw layer (``report_raw``): the file's bytes, compressed (zstd) as they stream by, in
  ``raw_report_file_contents``; rejected lines (only when ``max_bad_share`` tolerates them) also
  go to ``raw_report_rows`` with their ``parse_error``;
* lines are read in record batches by Apache Arrow and validated column by column
  (``report_arrow``), converted by the one converter of both engines (``report_convert``: time
  zones per client entity, exact amounts, line keys) and staged
  (``report_stage``): on PostgreSQL typed rows are COPYed (binary format) straight into
  ``stg_financial_actions`` where their keys are new, and merged through a temp table where they
  exist, payout ids into ``stg_financial_action_payouts``; on SQLite by ``executemany`` and
  ``upsert``. Payouts files go through ``upsert``;
* if more than ``max_bad_share`` of the lines do not parse (default 0: any), the load fails with
  the first line numbers and reasons, and nothing of the file remains (a savepoint is rolled
  back); a structurally broken CSV always fails it.

Loads into one staged table take turns (advisory lock on PostgreSQL, the writer lock on SQLite),
so the keys read as "existing" stay true until the commit.
"""

from __future__ import annotations

import csv
import gc
import io
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Literal, TextIO

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import format_ts, utcnow
from checkout_freshportal.warehouse import locks
from checkout_freshportal.warehouse import report_arrow as ra
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock, is_postgres
from checkout_freshportal.warehouse.report_convert import Converter, TimeZones, TypedBlock
from checkout_freshportal.warehouse.report_raw import (
    CONTENT_ENCODING,
    RawReportLine,  # noqa: F401 (re-exported)
    Spool,
    iter_raw_report_file,  # noqa: F401 (re-exported)
    open_raw_report_file,  # noqa: F401 (re-exported)
    store_content,
)
from checkout_freshportal.warehouse.report_stage import CopySink, RowSink, stage_payouts
from checkout_freshportal.warehouse.schema import raw_report_files, raw_report_rows
from checkout_freshportal.warehouse.upsert import UpsertResult

BATCH_SIZE = 2000
FIRST_BAD_SHOWN = 5
READ_BUFFER = 1 << 20

Method = Literal["auto", "copy", "rows"]


@dataclass(frozen=True)
class ReportLoadResult:
    rows: int  # data lines in the file
    staged_inserted: int
    staged_updated: int
    staged_unchanged: int
    skipped_already_loaded: bool
    #: lines whose payout id this file recorded (new lines, or a payout id the line had not)
    payouts_assigned: int = 0
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
    time_zones: TimeZones | None = None,
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
            locks.xact_lock(conn, locks.REPORT_TABLE, spec.table.name)
        with Spool() as spool:
            hashing.sink = spool.feed
            header, header_lines = _read_header(buffered, file_id)
            if header is None:  # a 0-byte file: a quiet period
                hmap, total, bad, res, payouts = None, 0, 0, UpsertResult(), 0
                first_bad: list[tuple[int, str]] = []
            else:
                hmap = rc.map_header(header, spec)
                zones = time_zones or TimeZones()
                job = _Job(conn, spec, hmap, file_id, report_type, method, zones, now, hashing)
                body = ra.open_body(buffered, len(hmap.header), file_id, header_lines)
                total, bad, first_bad, res, payouts = _stage(job, body, max_bad_share, clock)
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
                header=list(hmap.header) if hmap else [],
                rows=total,
                rows_rejected=bad,
                staged_table=spec.table.name,
                staged_inserted=res.inserted,
                staged_updated=res.updated,
                staged_unchanged=res.unchanged,
                payouts_assigned=payouts,
                load_method=method,
                loaded_at=now,
                run_id=run_id,
            )
        )
        clock.lap("raw")
    return _result(total, bad, first_bad, res, payouts, hashing.hexdigest(), spec.table.name, method, clock)


def restage_report_file(
    conn: Connection,
    *,
    file_id: str,
    report_type: str,
    stream: BinaryIO,
    method: Method = "auto",
    now: datetime | None = None,
    time_zones: TimeZones | None = None,
) -> ReportLoadResult:
    """Stage the lines of a file the raw layer already holds again (``cfp rebuild staging``).

    The same header mapping, conversion, keys and merge as :func:`load_report_file`, under the
    same per-table lock, inside the caller's transaction; the raw layer is not written. Lines the
    first load rejected (tolerated by its ``max_bad_share``) are rejected again and stay recorded
    in ``raw_report_rows`` as they are: the rebuild tolerates them rather than fail a file that
    once loaded.
    """
    spec = rc.spec_for(report_type)
    if method == "auto":
        method = "copy" if is_postgres(conn) else "rows"
    now = now or utcnow()
    hashing = rc.HashingReader(stream)
    buffered = io.BufferedReader(hashing, READ_BUFFER)
    claim_sqlite_write_lock(conn)
    if is_postgres(conn):
        locks.xact_lock(conn, locks.REPORT_TABLE, spec.table.name)
    header, header_lines = _read_header(buffered, file_id)
    if header is None:
        return ReportLoadResult(0, 0, 0, 0, False, table=spec.table.name, method=method)
    hmap = rc.map_header(header, spec)
    job = _Job(conn, spec, hmap, file_id, report_type, method, time_zones or TimeZones(), now, hashing)
    body = ra.open_body(buffered, len(hmap.header), file_id, header_lines)
    total, bad, first_bad, res, payouts = _stage(job, body, 1.0, _Clock(), record_rejected=False)
    hashing.drain()
    return _result(total, bad, first_bad, res, payouts, hashing.hexdigest(), spec.table.name, method, None)


def _result(
    total: int,
    bad: int,
    first_bad: list[tuple[int, str]],
    res: UpsertResult,
    payouts: int,
    sha256: str,
    table: str,
    method: Method,
    clock: _Clock | None,
) -> ReportLoadResult:
    """What a load or a restage of one file reports (a restage has no phase timings)."""
    return ReportLoadResult(
        rows=total,
        staged_inserted=res.inserted,
        staged_updated=res.updated,
        staged_unchanged=res.unchanged,
        skipped_already_loaded=False,
        payouts_assigned=payouts,
        rejected=bad,
        rejected_lines=tuple(n for n, _ in first_bad),
        sha256=sha256,
        table=table,
        method=method,
        timings={k: round(v, 4) for k, v in clock.phases.items()} if clock is not None else {},
    )


def _read_header(buffered: io.BufferedReader[Any], file_id: str) -> tuple[list[str] | None, int]:
    """The header record and how many physical lines it took (quoted newlines are legal); None
    for a file without a byte."""
    raw = buffered.readline()
    lines = 1
    while raw and raw.count(b'"') % 2 == 1:
        more = buffered.readline()
        if not more:
            break
        raw += more
        lines += 1
    if not raw:
        return None, 0
    if not raw.strip():
        raise rc.ReportColumnsError(f"report file {file_id}: the header line is blank")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise rc.ReportFormatError(f"report file {file_id}: header is not UTF-8: {exc.reason}") from None
    return next(csv.reader(io.StringIO(text))), lines


def _check_share(file_id: str, total: int, bad: int, first_bad: list[tuple[int, str]], share: float) -> None:
    if bad and bad > share * total:
        raise rc.ReportRowsError(file_id, bad, total, first_bad)


def _source(report_type: str) -> str:
    return f"report:{report_type}"


@dataclass(frozen=True)
class _Job:
    conn: Connection
    spec: rc.ReportSpec
    hmap: rc.HeaderMap
    file_id: str
    report_type: str
    method: str
    zones: TimeZones
    now: datetime
    reader: rc.HashingReader


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic GC passes while blocks churn through millions of short-lived strings (they hold
    no cycles; the passes cost about 3x the conversion itself)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sink(job: _Job, constants: list[str]) -> CopySink | RowSink | None:
    """Where financial-action lines go (None: a Payouts file, staged through ``upsert``)."""
    if job.spec is rc.PAYOUTS:
        return None
    if job.method == "copy":
        return CopySink(job.conn, job.spec, constants)
    return RowSink(job.conn, job.spec, constants, job.now)


def _rejected(checked: ra.Checked, job: _Job) -> Iterator[dict[str, Any]]:
    """``raw_report_rows`` of a batch's rejected lines (tolerated by ``max_bad_share``)."""
    for n, e in checked.errors.items():
        row = dict(zip(job.hmap.header, checked.rejected_rows[n], strict=True))
        yield {"file_id": job.file_id, "line_no": n, "row": row, "parse_error": e}


def _stage(
    job: _Job,
    body: Iterator[pa.RecordBatch],
    max_bad_share: float,
    clock: _Clock,
    *,
    record_rejected: bool = True,
) -> tuple[int, int, list[tuple[int, str]], UpsertResult, int]:
    """Validate, convert and stage the lines; (lines, rejected, first rejected, counts, payouts).

    ``record_rejected`` False: a re-stage, whose rejected lines ``raw_report_rows`` already holds.
    """
    conn, file_id = job.conn, job.file_id
    keep = record_rejected and max_bad_share > 0
    records = ra.Validated(body, job.spec, job.hmap, keep_all_rejected=keep, shown=FIRST_BAD_SHOWN)
    convert = Converter(job.spec, job.hmap, job.zones).convert
    constants = [file_id, format_ts(job.now), format_ts(job.now), f"report:{job.report_type}"]
    sink = _sink(job, constants)
    payout_blocks: list[TypedBlock] = []
    rejected: list[dict[str, Any]] = []
    doomed = False  # max_bad_share 0 and a line failed: keep counting, stop writing
    try:
        with _quiet_gc():
            for checked in records:
                clock.lap("read_validate")
                doomed = doomed or (bool(checked.errors) and not max_bad_share)
                if doomed:
                    continue
                if record_rejected:
                    rejected.extend(_rejected(checked, job))
                typed = convert(checked.valid, checked.first)
                clock.lap("convert")
                if sink is not None:
                    sink.add(typed)
                else:
                    payout_blocks.append(typed)
                clock.lap("route")
        clock.lap("read_validate")
        _check_share(file_id, records.total, records.bad, records.first_bad(), max_bad_share)
        if sink is not None:
            res = sink.finish()
        else:
            res = stage_payouts(conn, job.spec, payout_blocks, constants, job.now)
        for i in range(0, len(rejected), BATCH_SIZE):
            conn.execute(sa.insert(raw_report_rows), rejected[i : i + BATCH_SIZE])
        clock.lap("stage")
    finally:
        # Stop the reader thread now, not when the garbage collector finds the generator: a
        # failed load must not leave a thread holding the stream and blocks read ahead.
        close = getattr(body, "close", None)
        if close is not None:
            close()
        if isinstance(sink, CopySink):
            sink.close()
        if sink is not None:
            clock.phases.update(sink.timings)
    payouts = sink.payouts_assigned if sink is not None else 0
    return records.total, records.bad, records.first_bad(), res, payouts
