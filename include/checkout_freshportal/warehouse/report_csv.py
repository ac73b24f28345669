"""Report CSV files: column specs, the value grammar, header mapping and block validation.

Columns are found **by header name** (trimmed, case- and space-insensitive; a spec field may have
aliases), never by position; unknown columns are kept in the raw file, optional missing ones are
NULL, a missing required column fails the file with the expected and the found columns.

The value grammar is defined once, as regular expressions (``make_validator`` is the single
definition of a valid line and of its error message):

* amounts: ``[+-]digits[.1-8 digits]`` in major units -> ``*_e8`` exactly and ``*_minor`` with
  ROUND_HALF_EVEN at the currency's ISO 4217 exponent (docs/money.md), by ``report_convert``;
* timestamps: ISO 8601 date with optional time, 0-9 fractional digits (truncated to microseconds,
  never rounded), ``Z`` or ``+hh[:]mm`` offset; without an offset, a wall time in the client
  entity's settlement time zone (``report_convert.TimeZones``);
* currencies: ISO 4217 codes with a minor unit, case-insensitive.

Values are taken verbatim (no trimming): `` 1.00`` is not an amount.

Both engines read the body with Apache Arrow and check it column by column (``report_arrow``);
the lines its vectorised checks do not prove valid are judged by :func:`make_validator`.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO, Literal, TextIO

import sqlalchemy as sa

from checkout_freshportal import money
from checkout_freshportal.warehouse.schema import stg_financial_actions, stg_payouts

Kind = Literal["text", "currency", "amount", "ts", "date", "decimal"]

#: Grammar shared by Python (``re.ASCII``) and PostgreSQL (ARE); ``[0-9]`` rather than ``\d`` so
#: neither side accepts non-ASCII digits.
AMOUNT_RE = r"^[+-]?[0-9]{1,11}(\.[0-9]{1,8})?$"
DECIMAL_RE = r"^[+-]?[0-9]+(\.[0-9]+)?$"
TS_RE = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?(Z|[+-](0[0-9]|1[0-4]):?[0-5][0-9])?)?$"
)
#: Largest magnitude whose ``*_e8`` fits a signed 64-bit integer.
MAX_AMOUNT = Decimal("92233720368.54775807")

_AMOUNT = re.compile(AMOUNT_RE, re.ASCII)
_CURRENCIES = frozenset(money.known_currencies())
_DECIMAL = re.compile(DECIMAL_RE, re.ASCII)
_TS = re.compile(TS_RE, re.ASCII)


class ReportLoadError(ValueError):
    """A report file that cannot be loaded as it is; nothing of it was committed."""


class ReportColumnsError(ReportLoadError):
    """Required columns are missing (or the header is unusable)."""

    def __init__(self, message: str, *, expected: Sequence[str] = (), found: Sequence[str] = ()) -> None:
        self.expected, self.found = list(expected), list(found)
        super().__init__(message)


class ReportFormatError(ReportLoadError):
    """The CSV structure is broken (wrong number of fields, bad encoding); always fatal."""


class ReportRowsError(ReportLoadError):
    """Too many lines whose values do not parse; carries the first few with reasons."""

    def __init__(self, file_id: str, bad: int, total: int, first: Sequence[tuple[int, str]]) -> None:
        self.file_id, self.bad, self.total, self.first = file_id, bad, total, list(first)
        lines = "; ".join(f"line {n}: {why}" for n, why in first)
        super().__init__(f"report file {file_id}: {bad} of {total} lines do not parse (first: {lines})")

    @property
    def line_numbers(self) -> list[int]:
        return [n for n, _ in self.first]


class ReportDuplicateKeyError(ReportLoadError):
    """Two lines of one file carry the same business key; which one is right is unknowable."""

    def __init__(self, file_id: str, key: tuple, lines: Sequence[int]) -> None:
        self.file_id, self.key, self.lines = file_id, key, list(lines)
        super().__init__(f"report file {file_id}: key {key} appears on lines {', '.join(map(str, lines))}")


class ReportFileChangedError(ReportLoadError):
    """A file id already loaded comes back with different content."""


@dataclass(frozen=True)
class FieldSpec:
    header: str
    column: str  # staged column (amounts: prefix of ``_e8``/``_minor``)
    kind: Kind = "text"
    required_column: bool = False
    required_value: bool = False
    currency: str | None = None  # header of the currency column of an amount
    aliases: tuple[str, ...] = ()  # other names the column is found under

    @property
    def key(self) -> str:
        return normalize_header(self.header)

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key, *map(normalize_header, self.aliases))

    @property
    def staged_columns(self) -> tuple[str, ...]:
        if self.kind == "amount":
            return (f"{self.column}_e8", f"{self.column}_minor")
        return (self.column,)


@dataclass(frozen=True)
class ReportSpec:
    name: str
    table: sa.Table
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]

    def field(self, header: str) -> FieldSpec:
        return next(f for f in self.fields if f.key == normalize_header(header))

    @property
    def required_headers(self) -> list[str]:
        return [f.header for f in self.fields if f.required_column]

    @property
    def staged_columns(self) -> tuple[str, ...]:
        return tuple(c for f in self.fields for c in f.staged_columns)


def _text(header: str, column: str, **kw: Any) -> FieldSpec:
    return FieldSpec(header, column, "text", **kw)


def _req(header: str, column: str, kind: Kind = "text", **kw: Any) -> FieldSpec:
    return FieldSpec(header, column, kind, required_column=True, required_value=True, **kw)


#: The 35 columns Checkout.com writes in both financial-actions report types, in file order
#: (docs/checkout-com.md), plus ``Fee Detail``, one of the optional columns appended on request.
#: Names of entities and accounts are not staged (they stay in the raw file).
FINANCIAL_ACTIONS = ReportSpec(
    name="financial_actions",
    table=stg_financial_actions,
    key=("processed_on", "line_key"),
    fields=(
        _text("Client Entity ID", "client_entity_id"),
        _text("Sub Entity ID", "sub_entity_id"),
        _text("Processing Channel ID", "processing_channel_id"),
        _text("Merchant Category Code", "merchant_category_code"),
        _text("Currency Account ID", "currency_account_id"),
        _req("Action Type", "action_type"),
        _req("Action ID", "action_id"),
        _text("Payment ID", "payment_id"),
        FieldSpec("Requested On", "requested_on", "ts"),
        _req("Processed On", "processed_on", "ts"),
        FieldSpec("Processing Currency", "processing_currency", "currency"),
        FieldSpec("FX Rate Applied", "fx_rate_applied", "decimal"),
        _req("Holding Currency", "holding_currency", "currency"),
        _text("FX Trade ID", "fx_trade_id"),
        _text("Payout ID", "payout_id"),
        _text("Reference", "reference"),
        _text("Payment Method", "payment_method"),
        _text("Card Type", "card_type"),
        _text("Card Category", "card_category"),
        _text("Issuer Country", "issuer_country"),
        _text("Entity Country", "entity_country"),
        _text("Region", "region"),
        _text("MID", "mid"),
        _text("Response Code", "response_code"),
        _text("Response Description", "response_description"),
        _req("Breakdown Type", "breakdown_type"),
        FieldSpec(
            "Processing Currency Amount", "processing_amount", "amount", currency="Processing Currency"
        ),
        _req("Holding Currency Amount", "holding_amount", "amount", currency="Holding Currency"),
        FieldSpec("Entity Country Tax Currency", "tax_currency", "currency"),
        FieldSpec("Tax Fx Rate", "tax_fx_rate", "decimal"),
        FieldSpec("Tax Currency Amount", "tax_amount", "amount", currency="Entity Country Tax Currency"),
        _text("Fee Detail", "fee_detail"),
    ),
)

#: Amount columns of a Payouts report line that are staged (all in the holding currency); other
#: columns (e.g. ``Pay To Cards``) stay in the raw file.
_PAYOUT_AMOUNTS = (
    ("Merchant Payout Fees", "merchant_payout_fees"),
    ("Payments", "payments"),
    ("Refunds", "refunds"),
    ("Chargebacks", "chargebacks"),
    ("Card Payment Interchange Fees", "card_payment_interchange_fees"),
    ("Card Payment Scheme Fees", "card_payment_scheme_fees"),
    ("Processing Fees", "processing_fees"),
    ("Pay To Cards", "pay_to_cards"),
)

PAYOUTS = ReportSpec(
    name="payouts",
    table=stg_payouts,
    key=("payout_id",),
    fields=(
        _req("Payout ID", "payout_id"),
        _req("Holding Currency", "currency", "currency"),
        _req("Payout Date", "payout_date", "date"),
        _req("Payout Amount", "payout_amount", "amount", currency="Holding Currency"),
        *[FieldSpec(h, c, "amount", currency="Holding Currency") for h, c in _PAYOUT_AMOUNTS],
        # Checkout.com's names; ``Period Start``/``Period End`` (older simulator files) are aliases.
        FieldSpec("Reporting Start Date", "period_start", "ts", aliases=("Period Start",)),
        FieldSpec("Reporting End Date", "period_end", "ts", aliases=("Period End",)),
        _text("Client Entity ID", "client_entity_id"),
        _text("Sub Entity ID", "sub_entity_id"),
        _text("Currency Account ID", "currency_account_id"),
    ),
)

#: Report ``type`` (as the Reports API names it) -> how its files are staged.
REPORT_SPECS: dict[str, ReportSpec] = {
    "FinancialActions": FINANCIAL_ACTIONS,
    "FinancialActionsByPayoutId": FINANCIAL_ACTIONS,
    "Payouts": PAYOUTS,
}


def spec_for(report_type: str) -> ReportSpec:
    try:
        return REPORT_SPECS[report_type]
    except KeyError:
        raise ReportLoadError(
            f"no staging for report type {report_type!r} (known: {', '.join(REPORT_SPECS)})"
        ) from None


def normalize_header(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").split()).casefold()


@dataclass(frozen=True)
class HeaderMap:
    """Where each spec field sits in this file (None: column absent)."""

    header: tuple[str, ...]
    index: dict[str, int | None] = field(default_factory=dict)  # field header -> position
    unknown: tuple[str, ...] = ()


def map_header(header: Sequence[str], spec: ReportSpec) -> HeaderMap:
    names = [h.replace("\ufeff", "") for h in header]
    if not names or all(not n.strip() for n in names):
        raise ReportColumnsError("empty header line", expected=spec.required_headers, found=names)
    positions: dict[str, int] = {}
    for i, name in enumerate(names):
        key = normalize_header(name)
        if key in positions:
            raise ReportColumnsError(
                f"column {name!r} appears twice in the header", expected=spec.required_headers, found=names
            )
        positions[key] = i
    missing = [f.header for f in spec.fields if f.required_column and f.key not in positions]
    index: dict[str, int | None] = {}
    for f in spec.fields:
        found = [positions[k] for k in f.keys if k in positions]
        if len(found) > 1:
            raise ReportColumnsError(
                f"column {f.header!r} appears twice in the header (under another name too)",
                expected=spec.required_headers,
                found=names,
            )
        index[f.header] = found[0] if found else None
    if missing:
        raise ReportColumnsError(
            f"missing required column(s) {missing}; expected at least {spec.required_headers}, found {names}",
            expected=spec.required_headers,
            found=names,
        )
    known = {k for f in spec.fields for k in f.keys}
    return HeaderMap(
        header=tuple(names),
        index=index,
        unknown=tuple(n for n in names if normalize_header(n) not in known),
    )


# ------------------------------------------------------------------------------- values


def _quote(value: str) -> str:
    return f'"{value[:40]}"'


def msg_missing(header: str) -> str:
    return f"{header}: missing"


def msg_bad_amount(header: str, value: str) -> str:
    return f"{header}: not an amount with at most 8 decimals: {_quote(value)}"


def msg_amount_range(header: str, value: str) -> str:
    return f"{header}: amount out of range: {_quote(value)}"


def msg_unknown_currency(header: str, value: str) -> str:
    return f"{header}: unknown currency {_quote(value)}"


def msg_currency_needed(currency_header: str, header: str) -> str:
    return f"{currency_header}: missing (needed for {header})"


def msg_bad_ts(header: str, value: str) -> str:
    return f"{header}: not an ISO 8601 timestamp: {_quote(value)}"


def msg_bad_decimal(header: str, value: str) -> str:
    return f"{header}: not a decimal number: {_quote(value)}"


def _valid_day(value: str) -> bool:
    """Day of month within the month's length (the grammar alone allows 2026-02-31)."""
    d = value[8:10]
    if d <= "28":
        return True
    y, m = int(value[:4]), int(value[5:7])
    return int(d) <= calendar.monthrange(y, m)[1]


def is_report_ts(value: str) -> bool:
    return bool(_TS.fullmatch(value)) and _valid_day(value)


Validator = Callable[[Sequence[str]], "str | None"]


def _always(message: str) -> Callable[[Sequence[str]], str | None]:
    """A line check that always fails with ``message`` (a required column missing from the file)."""

    def check(_values: Sequence[str]) -> str | None:
        return message

    return check


def make_validator(spec: ReportSpec, hmap: HeaderMap) -> Validator:
    """A function CSV record -> first problem (message) or None, for this file's layout.

    The single definition of what a valid line is, used by both load paths (the COPY path runs it
    while the bytes stream to PostgreSQL). Checks run in spec order; the first failure wins.
    Timestamps repeat across the breakdown lines of one action, so the last valid value of each
    timestamp column is remembered (a regex match costs about a microsecond).
    """
    checks: list[Callable[[Sequence[str]], str | None]] = []
    for f in spec.fields:
        i = hmap.index[f.header]
        if i is None:
            if f.required_value:  # only reachable for optional columns marked required_value
                checks.append(_always(msg_missing(f.header)))
            continue
        if f.kind == "text" and not f.required_value:
            continue  # any text is valid: no call per line
        checks.append(_field_check(f, i, hmap, spec))

    def validate(values: Sequence[str]) -> str | None:
        for check in checks:
            err = check(values)
            if err is not None:
                return err
        return None

    return validate


def _field_check(
    f: FieldSpec, i: int, hmap: HeaderMap, spec: ReportSpec
) -> Callable[[Sequence[str]], str | None]:
    missing = msg_missing(f.header)
    required = f.required_value
    if f.kind == "text":

        def check_text(values: Sequence[str]) -> str | None:
            return missing if required and not values[i] else None

        return check_text
    if f.kind == "currency":

        def check_currency(values: Sequence[str]) -> str | None:
            v = values[i]
            if not v:
                return missing if required else None
            return None if v.upper() in _CURRENCIES else msg_unknown_currency(f.header, v.upper())

        return check_currency
    if f.kind == "amount":
        assert f.currency is not None
        ci = hmap.index[f.currency]

        def check_amount(values: Sequence[str]) -> str | None:
            v = values[i]
            if not v:
                return missing if required else None
            if not _AMOUNT.fullmatch(v):
                return msg_bad_amount(f.header, v)
            if len(v) > 11 and len(v.lstrip("+-").split(".", 1)[0]) == 11 and abs(Decimal(v)) > MAX_AMOUNT:
                return msg_amount_range(f.header, v)
            cur = values[ci] if ci is not None else ""
            if not cur:
                return msg_currency_needed(f.currency, f.header)  # type: ignore[arg-type]
            if cur.upper() not in _CURRENCIES:
                return msg_unknown_currency(f.currency, cur.upper())  # type: ignore[arg-type]
            return None

        return check_amount
    if f.kind in ("ts", "date"):
        last = [""]

        def check_ts(values: Sequence[str]) -> str | None:
            v = values[i]
            if not v:
                return missing if required else None
            if v == last[0]:
                return None
            if not is_report_ts(v):
                return msg_bad_ts(f.header, v)
            last[0] = v
            return None

        return check_ts
    if f.kind == "decimal":

        def check_decimal(values: Sequence[str]) -> str | None:
            v = values[i]
            if not v:
                return missing if required else None
            return None if _DECIMAL.fullmatch(v) else msg_bad_decimal(f.header, v)

        return check_decimal
    raise AssertionError(f"unknown kind {f.kind}")


# ------------------------------------------------------------------------------- streams


class HashingReader(io.RawIOBase):
    """Wraps a binary or text stream: yields bytes, counts them and hashes them on the way.

    Lets the loaders read a file once (an HTTP body cannot be rewound) while computing the sha256
    that makes reloads idempotent. Text streams are encoded as UTF-8.
    """

    def __init__(self, stream: BinaryIO | TextIO | Any, sink: Callable[[bytes], Any] | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._pending = b""
        self.sha256 = hashlib.sha256()
        self.size = 0
        #: called with every chunk read from the stream, in order (e.g. to compress the file)
        self.sink = sink

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        if not self._pending:
            # At most 1 MiB at a time: each chunk also waits in the spool's queue (bounded in
            # chunks), so the chunk size bounds the memory held while compression lags.
            data = self._stream.read(min(max(want, 1 << 16), 1 << 20))
            if isinstance(data, str):
                data = data.encode("utf-8")
            if not data:
                return 0
            data = bytes(data)
            self.sha256.update(data)
            self.size += len(data)
            if self.sink is not None:
                self.sink(data)
            self._pending = data
        chunk, self._pending = self._pending[:want], self._pending[want:]
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()

    def drain(self) -> None:
        """Read (and hash) whatever is left."""
        buf = bytearray(1 << 20)
        while self.readinto(buf):
            pass
