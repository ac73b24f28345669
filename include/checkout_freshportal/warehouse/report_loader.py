"""Load one Checkout.com report CSV file: raw lines + staged merge, all or nothing.

``load_report_file`` streams the file once (it may be an HTTP body), hashing it on the way:

* a ``file_id`` already loaded with the same sha256 is skipped (idempotent); with a different
  sha256 it is refused loudly (report files are immutable; a change needs a human);
* columns are mapped by header name (``report_csv``); a missing required column fails at once;
* every line goes to ``raw_report_rows`` verbatim (unknown columns included) with its
  ``parse_error``; valid lines are merged into ``stg_financial_actions`` (key
  ``(action_id, breakdown_type)``, ``payout_id`` never erased) or ``stg_payouts``;
* if more than ``max_bad_share`` of the lines do not parse (default 0: any), the load fails with
  the first line numbers and reasons, and nothing of the file remains (a savepoint is rolled
  back); a key repeated inside one file or a structurally broken CSV always fails it.

Two implementations with one behaviour: ``"copy"`` (PostgreSQL: COPY of the raw bytes into a temp
table while Python validates the same bytes on the way, then set-based SQL, see ``report_sql``) and
``"rows"`` (SQLite, or PostgreSQL on request: ``csv`` + validator + ``convert_row`` + batched
executemany). Both use the one validator, ``report_csv.make_validator``, so they accept exactly the
same lines. Neither holds the file in memory.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Literal, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse import report_sql
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock, is_postgres
from checkout_freshportal.warehouse.schema import raw_report_files, raw_report_rows
from checkout_freshportal.warehouse.upsert import UpsertResult, plan_merge, upsert

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
        header, header_lines = _read_header(buffered, file_id)
        hmap = rc.map_header(header, spec)
        load = _load_copy if method == "copy" else _load_rows
        total, bad, first_bad, res = load(
            conn,
            spec,
            hmap,
            buffered,
            header_lines,
            file_id=file_id,
            report_type=report_type,
            now=now,
            max_bad_share=max_bad_share,
            clock=clock,
        )
        hashing.drain()
        conn.execute(
            sa.insert(raw_report_files).values(
                file_id=file_id,
                report_id=report_id,
                report_type=report_type,
                filename=filename,
                sha256=hashing.hexdigest(),
                size_bytes=hashing.size,
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


def _read_header(buffered: io.BufferedReader, file_id: str) -> tuple[list[str], int]:
    """The header record and how many physical lines it took (quoted newlines are legal CSV)."""
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
    return next(csv.reader(io.StringIO(text))), lines


def _check_share(file_id: str, total: int, bad: int, first_bad: list[tuple[int, str]], share: float) -> None:
    if bad and bad > share * total:
        raise rc.ReportRowsError(file_id, bad, total, first_bad)


def _source(report_type: str) -> str:
    return f"report:{report_type}"


# --------------------------------------------------------------------------- shared


class _Records:
    """CSV records of the body with their line numbers, validated as they go by."""

    def __init__(
        self, text: io.TextIOBase, hmap: rc.HeaderMap, spec: rc.ReportSpec, file_id: str, header_lines: int
    ):
        self.reader = csv.reader(text, strict=True)
        self.validate = rc.make_validator(spec, hmap)
        self.ncols, self.file_id, self.header_lines = len(hmap.header), file_id, header_lines
        self.total = 0
        self.rejected: list[tuple[int, str]] = []

    def __iter__(self) -> Iterator[tuple[int, list[str], str | None]]:
        try:
            for values in self.reader:
                if len(values) != self.ncols:
                    raise rc.ReportFormatError(
                        f"report file {self.file_id}: line {self.header_lines + self.reader.line_num}: "
                        f"{len(values)} fields, the header has {self.ncols}"
                    )
                self.total += 1
                line_no = self.total + 1  # the header is line 1
                err = self.validate(values)
                if err is not None:
                    self.rejected.append((line_no, err))
                yield line_no, values, err
        except UnicodeDecodeError as exc:
            raise rc.ReportFormatError(
                f"report file {self.file_id}: not UTF-8 near line "
                f"{self.header_lines + self.reader.line_num + 1}: {exc.reason}"
            ) from None
        except csv.Error as exc:
            raise rc.ReportFormatError(
                f"report file {self.file_id}: line {self.header_lines + self.reader.line_num}: {exc}"
            ) from None

    @property
    def bad(self) -> int:
        return len(self.rejected)

    def first_bad(self) -> list[tuple[int, str]]:
        return self.rejected[:FIRST_BAD_SHOWN]


def _text(binary: io.BufferedIOBase) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8", newline="")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- rows (Python)


def _load_rows(
    conn: Connection,
    spec: rc.ReportSpec,
    hmap: rc.HeaderMap,
    buffered: io.BufferedReader,
    header_lines: int,
    *,
    file_id: str,
    report_type: str,
    now: datetime,
    max_bad_share: float,
    clock: _Clock,
) -> tuple[int, int, list[tuple[int, str]], UpsertResult]:
    records = _Records(_text(buffered), hmap, spec, file_id, header_lines)
    seen: dict[tuple, int] = {}
    raw_batch: list[dict[str, Any]] = []
    stg_batch: list[dict[str, Any]] = []
    res = UpsertResult()
    source = _source(report_type)
    doomed = False  # max_bad_share 0 and a line failed: keep counting, stop writing

    def flush() -> None:
        nonlocal res
        if raw_batch:
            conn.execute(sa.insert(raw_report_rows), raw_batch)
        if stg_batch:
            res += upsert(conn, spec.table, stg_batch, spec.key, now=now)
        raw_batch.clear()
        stg_batch.clear()

    for line_no, values, err in records:
        doomed = doomed or (err is not None and not max_bad_share)
        if doomed:
            continue
        raw_batch.append(
            {
                "file_id": file_id,
                "line_no": line_no,
                "row": dict(zip(hmap.header, values, strict=True)),
                "parse_error": err,
            }
        )
        if err is None:
            row = rc.convert_row(values, hmap, spec)
            key = rc.key_of(row, spec)
            if key in seen:
                raise rc.ReportDuplicateKeyError(file_id, key, [seen[key], line_no])
            seen[key] = line_no
            row["source"] = source
            row["source_file_id"] = file_id
            stg_batch.append(row)
        if len(raw_batch) >= BATCH_SIZE:
            flush()
    _check_share(file_id, records.total, records.bad, records.first_bad(), max_bad_share)
    flush()
    clock.lap("rows")
    return records.total, records.bad, records.first_bad(), res


# --------------------------------------------------------------------------- copy (PostgreSQL)

_COPY_LINE = re.compile(r"line (\d+)")


class _Tee(io.RawIOBase):
    """Reads from ``source`` and hands every chunk to ``sink`` (the COPY) before returning it, so
    Python parses and validates the lines while PostgreSQL ingests the same bytes."""

    def __init__(self, source: io.BufferedReader, sink: Callable[[bytes], Any]) -> None:
        super().__init__()
        self._source, self._sink = source, sink

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read1(min(len(buffer), report_sql.COPY_CHUNK))
        if not data:
            return 0
        self._sink(data)
        buffer[: len(data)] = data
        return len(data)


def _load_copy(
    conn: Connection,
    spec: rc.ReportSpec,
    hmap: rc.HeaderMap,
    buffered: io.BufferedReader,
    header_lines: int,
    *,
    file_id: str,
    report_type: str,
    now: datetime,
    max_bad_share: float,
    clock: _Clock,
) -> tuple[int, int, list[tuple[int, str]], UpsertResult]:
    import psycopg
    from psycopg.copy import QueuedLibpqWriter

    from checkout_freshportal.warehouse.bulk import driver_connection, merge_from_select, q

    old_tz = conn.exec_driver_sql("SELECT current_setting('TimeZone')").scalar_one()
    conn.exec_driver_sql("SELECT set_config('TimeZone', 'UTC', true)")
    ncols = len(hmap.header)
    tcur = report_sql.create_currency_table(conn)
    tin = report_sql.create_input_table(conn, ncols)
    clock.lap("setup")
    try:
        with driver_connection(conn).cursor() as cur:
            # The queued writer sends from a worker thread: the server ingests chunk k while this
            # thread parses and validates it (two cores busy instead of one).
            with cur.copy(report_sql.copy_sql(conn, tin, ncols), writer=QueuedLibpqWriter(cur)) as cp:
                tee = io.BufferedReader(_Tee(buffered, cp.write), report_sql.COPY_CHUNK)
                records = _Records(_text(tee), hmap, spec, file_id, header_lines)
                for _ in records:
                    pass
            copied = cur.rowcount
    except psycopg.Error as exc:
        raise _copy_error(exc, file_id, header_lines, hmap) from None
    if copied != records.total:
        raise rc.ReportFormatError(
            f"report file {file_id}: PostgreSQL read {copied} CSV records, Python {records.total}; "
            "the file is not plain RFC 4180 CSV"
        )
    total, bad, first_bad = records.total, records.bad, records.first_bad()
    clock.lap("copy")
    _check_share(file_id, total, bad, first_bad, max_bad_share)
    trej = report_sql.create_rejected_table(conn, records.rejected) if bad else None
    gen = report_sql.ReportSQL(conn, spec, hmap, tin, tcur, trej)
    sql, params = gen.raw_insert()
    conn.exec_driver_sql(sql, {**params, "file_id": file_id})
    clock.lap("raw_insert")

    plan = plan_merge(spec.table, (*spec.staged_columns, "source", "source_file_id"), spec.key)
    params = {"file_id": file_id, "source": _source(report_type), "now": now}
    try:
        with conn.begin_nested():
            inserted, updated = merge_from_select(conn, plan, gen.staging_select(plan.columns), params)
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "21000":  # cardinality_violation: a key twice in the file
            raise
        dup = conn.exec_driver_sql(gen.duplicate_key()).first()
        if dup is None:
            raise
        raise rc.ReportDuplicateKeyError(file_id, tuple(dup[:-1]), list(dup[-1])) from None
    clock.lap("merge")
    conn.exec_driver_sql(f"DROP TABLE {', '.join(q(conn, t) for t in (tin, tcur, trej) if t)}")
    conn.exec_driver_sql("SELECT set_config('TimeZone', %(tz)s, true)", {"tz": old_tz})
    return total, bad, first_bad, UpsertResult(inserted, updated, total - bad - inserted - updated)


def _copy_error(exc: Exception, file_id: str, header_lines: int, hmap: rc.HeaderMap) -> rc.ReportLoadError:
    """A COPY failure as a ReportFormatError with the file's line number (the data is not echoed)."""
    diag = getattr(exc, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(exc)).strip()
    primary = re.sub(r'column "c(\d+)"', lambda m: f'column "{hmap.header[int(m.group(1))]}"', primary)
    m = _COPY_LINE.search(getattr(diag, "context", None) or "")
    where = f"line {int(m.group(1)) + header_lines}: " if m else ""
    return rc.ReportFormatError(f"report file {file_id}: {where}{primary}")
