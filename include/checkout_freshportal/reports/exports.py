"""CSV and XLSX exports of exceptions, matches and payouts, streamed row by row.

Amounts: ``*_amount`` columns are major units as exact text with the currency's exponent
(``12.345`` KWD, ``5000`` JPY, ``-1.23`` EUR), made with ``Decimal`` from integer minor units,
never through a float. The XLSX keeps them as text too (openpyxl would write a ``Decimal``
through ``%.16g``, i.e. a float) and adds the integer ``*_minor`` columns beside them, which a
spreadsheet sums exactly (integers are exact in Excel up to 2^53).

Text from outside (details, ids, codes) that starts like a spreadsheet formula (``=``, ``+``,
``-``, ``@``, tab, CR) is prefixed with ``'`` in both files, so opening an export never runs a
formula someone planted in an API field (OWASP "CSV injection"). Its control characters (tab
and line feed apart), line separators and bidi overrides are written as ``\\xNN`` or
``\\uNNNN`` (``logsafe.escape_controls``), so a payload cannot reorder or hide what a cell shows.
Amount columns are ours and are never prefixed: a negative amount stays a number-shaped
``-1.23``.

E-mail addresses in any outside text, ids and references included (an order number, a payment
reference or a payout id has held a customer's address), are masked in :func:`_text`, the one
place every cell passes (``logsafe.mask_emails``: ``j***@example.com``, digits left alone, so ids
stay whole); free text was masked more strictly before (``mask_text``). Amount columns are not
touched.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy.engine import Engine

from checkout_freshportal.logsafe import escape_controls, mask_emails, mask_text
from checkout_freshportal.reports.queries_money import PayoutRow, iter_payouts
from checkout_freshportal.reports.queries_rows import ExceptionRow, MatchRow, iter_exceptions, iter_matches
from checkout_freshportal.reports.sqlparts import bucket_of_days, major_text
from checkout_freshportal.timeutil import format_ts

#: Rows of data a worksheet holds (Excel's limit is 1,048,576 rows, one is the header, one the note).
XLSX_MAX_ROWS = 1_048_574
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Amount(str):
    """Exact major-unit text of an amount: written as is (never formula-guarded)."""

    __slots__ = ()


def _text(value: Any) -> str:
    """A cell's text: timestamps ISO 8601 UTC, outside text with its addresses masked and
    formula-guarded, None empty."""
    if value is None:
        return ""
    if isinstance(value, Amount):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    # Masked before escaping: a bidi override inside an address, once written as text
    # ("jan\u202e@..."), would hide the address's start from the mask.
    text = escape_controls(mask_emails(str(value)))
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass(frozen=True)
class Export:
    """One export: its file stem (``exceptions``), header and a row source."""

    name: str
    header: Sequence[str]
    rows: Callable[[], Iterable[Sequence[Any]]]


EXCEPTION_COLUMNS = (
    "kind",
    "severity",
    "status",
    "order_number",
    "payment_id",
    "payout_id",
    "currency",
    "expected_amount",
    "actual_amount",
    "first_seen",
    "last_seen",
    "age_days",
    "detail",
    "age_bucket",
    "expected_minor",
    "actual_minor",
    "exception_id",
    "order_id",
    "action_id",
    "dispute_id",
    "refund_request_id",
    "resolved_at",
    "explained_by",
    "explanation",
)


def exception_values(r: ExceptionRow) -> tuple[Any, ...]:
    return (
        r.kind,
        r.severity,
        r.status,
        r.order_number,
        r.payment_id,
        r.payout_id,
        r.currency,
        Amount(major_text(r.expected_minor, r.currency)),
        Amount(major_text(r.actual_minor, r.currency)),
        r.first_seen,
        r.last_seen,
        r.age_days,
        r.detail,
        bucket_of_days(r.age_days),
        r.expected_minor,
        r.actual_minor,
        r.exception_id,
        r.order_id,
        r.action_id,
        r.dispute_id,
        r.refund_request_id,
        r.resolved_at,
        mask_text(r.explained_by) if r.explained_by else None,
        r.explanation,
    )


MATCH_COLUMNS = (
    "order_number",
    "order_id",
    "payment_id",
    "rule",
    "confirmed",
    "match_group",
    "order_currency",
    "order_amount",
    "payment_currency",
    "payment_amount",
    "captured_amount",
    "refunded_amount",
    "payment_status",
    "first_matched_at",
    "order_minor",
    "payment_minor",
    "captured_minor",
    "refunded_minor",
)


def match_values(r: MatchRow) -> tuple[Any, ...]:
    pc = r.payment_currency
    return (
        r.order_number,
        r.order_id,
        r.payment_id,
        r.rule,
        r.confirmed,
        r.match_group,
        r.order_currency,
        Amount(major_text(r.order_minor, r.order_currency)),
        pc,
        Amount(major_text(r.payment_minor, pc)),
        Amount(major_text(r.captured_minor, pc)),
        Amount(major_text(r.refunded_minor, pc)),
        r.payment_status,
        r.first_matched_at,
        r.order_minor,
        r.payment_minor,
        r.captured_minor,
        r.refunded_minor,
    )


def payout_columns(categories: Sequence[str]) -> tuple[str, ...]:
    return (
        "payout_id",
        "payout_date",
        "currency",
        "payout_amount",
        "lines_amount",
        "difference_amount",
        "line_count",
        "other_currency_lines",
        *(f"{c}_amount" for c in categories),
        "payout_minor",
        "lines_minor",
    )


def payout_values(r: PayoutRow, categories: Sequence[str]) -> tuple[Any, ...]:
    c = r.currency
    return (
        r.payout_id,
        r.payout_date,
        c,
        Amount(major_text(r.payout_minor, c)),
        Amount(major_text(r.lines_minor, c)),
        Amount(major_text(r.difference_minor, c)),
        r.line_count,
        r.other_currency_lines,
        *(Amount(major_text(r.by_category.get(k, 0), c)) for k in categories),
        r.payout_minor,
        r.lines_minor,
    )


def exports(engine: Engine, as_of: datetime, categories: Sequence[str]) -> list[Export]:
    """The three exports, each reading the warehouse when its rows are iterated."""

    def stream(make: Callable[[Any], Iterator[Sequence[Any]]]) -> Callable[[], Iterator[Sequence[Any]]]:
        def rows() -> Iterator[Sequence[Any]]:
            with engine.connect() as conn:
                yield from make(conn)

        return rows

    return [
        Export(
            "exceptions",
            EXCEPTION_COLUMNS,
            stream(lambda conn: (exception_values(r) for r in iter_exceptions(conn, as_of))),
        ),
        Export("matches", MATCH_COLUMNS, stream(lambda conn: (match_values(r) for r in iter_matches(conn)))),
        Export(
            "payouts",
            payout_columns(categories),
            stream(lambda conn: (payout_values(r, categories) for r in iter_payouts(conn, as_of))),
        ),
    ]


def write_csv(export: Export, path: Path) -> int:
    """Write one export as UTF-8 CSV (RFC 4180 quoting, ``\\r\\n``); returns the row count."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(export.header)
        for row in export.rows():
            w.writerow([_text(v) for v in row])
            n += 1
    return n


def write_xlsx(all_exports: Sequence[Export], path: Path) -> None:
    """One sheet per export, streamed (openpyxl write-only mode: rows are not kept in memory)."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for export in all_exports:
        ws = wb.create_sheet(export.name)
        ws.freeze_panes = "A2"
        header = []
        for name in export.header:
            cell = WriteOnlyCell(ws, value=name)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        for written, row in enumerate(export.rows()):
            if written == XLSX_MAX_ROWS:  # the sheet is full: say so instead of failing the report
                ws.append([f"truncated at {XLSX_MAX_ROWS} rows: {export.name}.csv has every row"])
                break
            ws.append([_xlsx_value(v) for v in row])
    wb.save(path)


def _xlsx_value(value: Any) -> Any:
    """Integers stay numbers (exact), everything else is text as in the CSV (amounts exact).

    XML 1.0 cannot hold control characters, and openpyxl refuses the whole workbook for one: an
    id or code from outside carrying one is written with it as a visible ``\\x1b`` instead."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", _text(value))
