"""Report bodies read by Apache Arrow's C++ CSV reader and validated column by column.

The body (header already read by the loader) is parsed by ``pyarrow.csv.open_csv`` into record
batches of text columns (RFC 4180: quoted commas, quotes and line breaks, CRLF or CR, no final
line break), about ``BLOCK_BYTES`` of CSV each, one batch ahead on a thread of its own
(:func:`prefetched`): parsing runs in C++ without the GIL, so the next batch is parsed while the
loader converts this one. One reader thread, not Arrow's thread pool: only a sequential reader
numbers the rows that error messages name. The checks below run in C++ too (docs/warehouse.md).

Validation keeps ``report_csv.make_validator`` as the single definition of a valid line and of
its error message: :func:`fast_ok` marks, with vectorised kernels (RE2 regular expressions, set
membership), the lines every check surely accepts; it tests a strict subset of the grammar (at
most 10 integer digits, no 29 February, ...), so it can only send a good line to the slow path,
never accept a bad one. Only the lines it does not mark are read into Python and validated there.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from checkout_freshportal import money
from checkout_freshportal.warehouse import report_csv as rc

#: Bytes of CSV per record batch.
BLOCK_BYTES = 4 << 20
#: Batches parsed ahead of the one being converted.
PREFETCH = 2

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = PREFETCH) -> Iterator[T]:
    """``items`` produced on a thread, at most ``depth`` ahead; its exception is raised here, in
    order. Closing the iterator early stops the thread after the item it is producing."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Hand ``item`` over unless the consumer has gone (then never block on a full queue)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=produce, name="report-reader", daemon=True)
    worker.start()
    try:
        while (item := q.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while True:  # free what was read ahead (and a producer blocked on a full queue)
            try:
                q.get_nowait()
            except queue.Empty:
                break
        worker.join()


# Strict subsets of the grammar of ``report_csv`` (see the module docstring).
_DATE_FAST = (
    r"[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
TS_FAST = (
    rf"^{_DATE_FAST}(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:0[0-9]|1[0-4]):?[0-5][0-9])?)?$"
)
#: 10 integer digits at most: below ``report_csv.MAX_AMOUNT`` without a range check.
AMOUNT_FAST = r"^[+-]?[0-9]{1,10}(?:\.[0-9]{1,8})?$"
_CURRENCIES = pa.array(sorted(money.known_currencies()), pa.string())


def _filled(col: pa.Array) -> pa.Array:
    return pc.not_equal(col, "")


def _or_empty(ok: pa.Array, col: pa.Array, required: bool) -> pa.Array:
    return ok if required else pc.or_(ok, pc.equal(col, ""))


def _field_ok(f: rc.FieldSpec, hmap: rc.HeaderMap, cols: list[pa.Array]) -> pa.Array | None:
    """Lines whose value of ``f`` surely passes its check (None: no check, all pass)."""
    i = hmap.index[f.header]
    if i is None:
        return pa.repeat(pa.scalar(False), len(cols[0])) if f.required_value else None
    col = cols[i]
    if f.kind == "text":
        return _filled(col) if f.required_value else None
    if not f.required_value and pc.max(pc.binary_length(col)).as_py() in (0, None):
        return None  # a column this batch leaves empty (tax, FX, often): nothing to match
    if f.kind == "currency":
        return _or_empty(pc.is_in(pc.utf8_upper(col), value_set=_CURRENCIES), col, f.required_value)
    if f.kind == "amount":
        ok = _or_empty(pc.match_substring_regex(col, AMOUNT_FAST), col, f.required_value)
        ci = hmap.index[f.currency or ""]
        # an amount needs its currency (an invalid one fails the currency column's own check)
        has_currency = _filled(cols[ci]) if ci is not None else pc.equal(col, "")
        return pc.and_(ok, pc.or_(has_currency, pc.equal(col, "")))
    if f.kind in ("ts", "date"):
        return _or_empty(pc.match_substring_regex(col, TS_FAST), col, f.required_value)
    if f.kind == "decimal":
        return _or_empty(pc.match_substring_regex(col, rc.DECIMAL_RE), col, f.required_value)
    raise AssertionError(f"unknown kind {f.kind}")


def fast_ok(batch: pa.RecordBatch, spec: rc.ReportSpec, hmap: rc.HeaderMap) -> pa.Array:
    """Lines of ``batch`` that surely pass ``make_validator`` (False: not proven, ask it)."""
    cols = list(batch.columns)
    ok: pa.Array = pa.repeat(pa.scalar(True), batch.num_rows)
    for f in spec.fields:
        m = _field_ok(f, hmap, cols)
        if m is not None:
            ok = pc.and_(ok, m)
    return pc.fill_null(ok, False)


def open_body(stream: Any, ncols: int, file_id: str, header_lines: int) -> Iterator[pa.RecordBatch]:
    """Record batches of the body of ``stream`` (positioned after the header), all text columns;
    Arrow's errors become ``ReportFormatError`` naming the line (never quoting it: it may hold
    personal data)."""
    if not stream.peek(1):  # a header-only file (Arrow refuses an empty body)
        return
    names = [f"c{i}" for i in range(ncols)]
    bad: list[Any] = []

    def invalid(row: Any) -> str:
        bad.append(row)
        return "error"

    try:
        reader = pcsv.open_csv(
            stream,
            # no threads: the reader then numbers rows (error messages); parsing still runs in C++
            read_options=pcsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pcsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=invalid
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        yield from prefetched(reader)
    except pa.ArrowInvalid as exc:
        if bad and bad[0].number is not None:
            row = bad[0]
            raise rc.ReportFormatError(
                f"report file {file_id}: line {row.number + header_lines}: {row.actual_columns} "
                f"fields, the header has {row.expected_columns}"
            ) from None
        if "UTF8" in str(exc):
            raise rc.ReportFormatError(f"report file {file_id}: not UTF-8 text") from None
        raise rc.ReportFormatError(f"report file {file_id}: unreadable CSV ({str(exc)[:80]})") from None


@dataclass
class Checked:
    """One batch after validation: the valid lines and the rejected ones."""

    first: int  # line number of the batch's first line (the header is line 1)
    n: int  # lines in the batch
    valid: pa.RecordBatch
    errors: dict[int, str] = field(default_factory=dict)  # line number -> message
    rejected_rows: dict[int, list[str]] = field(default_factory=dict)  # line number -> values


class Validated:
    """Validates the batches of a body and keeps the count of lines and of the rejected ones
    (all of them, or with ``keep_all_rejected=False`` only the first few)."""

    def __init__(
        self,
        batches: Iterator[pa.RecordBatch],
        spec: rc.ReportSpec,
        hmap: rc.HeaderMap,
        *,
        keep_all_rejected: bool = True,
        shown: int = 5,
    ) -> None:
        self.batches, self.spec, self.hmap = batches, spec, hmap
        self.keep_all, self.shown = keep_all_rejected, shown
        self.validate = rc.make_validator(spec, hmap)
        self.rejected: list[tuple[int, str]] = []
        self.bad = 0
        self.total = 0
        self.slow_lines = 0

    def __iter__(self) -> Iterator[Checked]:
        for batch in self.batches:
            first = self.total + 2
            self.total += batch.num_rows
            if not batch.num_rows:
                continue
            ok = fast_ok(batch, self.spec, self.hmap)
            if pc.all(ok).as_py():
                yield Checked(first, batch.num_rows, batch)
                continue
            yield self._slow(batch, ok, first)

    def _slow(self, batch: pa.RecordBatch, ok: pa.Array, first: int) -> Checked:
        """Lines the fast checks did not prove: ``make_validator`` decides (and words the error)."""
        idx = pc.indices_nonzero(pc.invert(ok)).to_pylist()
        self.slow_lines += len(idx)
        rows = batch.take(pa.array(idx, pa.int64())).to_pylist()
        errors: dict[int, str] = {}
        values: dict[int, list[str]] = {}
        keep = ok.to_pylist()
        for k, row in zip(idx, rows, strict=True):
            line = list(row.values())
            err = self.validate(line)
            if err is None:
                keep[k] = True
            else:
                errors[first + k] = err
                values[first + k] = line
        self.bad += len(errors)
        room = len(errors) if self.keep_all else max(0, self.shown - len(self.rejected))
        self.rejected.extend(list(errors.items())[:room])
        valid = batch.filter(pa.array(keep, pa.bool_())) if errors else batch
        return Checked(first, batch.num_rows, valid, errors, values)

    def first_bad(self) -> list[tuple[int, str]]:
        return self.rejected[: self.shown]
