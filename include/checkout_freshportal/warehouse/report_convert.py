"""One converter for both engines: a validated batch of report lines -> typed columns and keys.

Both load paths (PostgreSQL COPY, SQLite ``executemany``) stage what this module produces, so
they cannot disagree. It works **column by column** on Apache Arrow arrays (C++ kernels, no
Python call per value except for rare timestamp shapes and zones): a Python call per value is
what made the conversion cost more than the server's COPY.

Canonical values (:class:`TypedBlock`), ``""`` meaning NULL:

* text: verbatim; currencies upper-cased;
* amounts: ``*_e8`` (exact integer 1e-8 units) as decimal text (it is part of the identity; its
  ``int64`` is in :attr:`TypedBlock.typed`) and ``*_minor`` (ROUND_HALF_EVEN at the currency's
  ISO 4217 exponent, docs/money.md) as an ``int64`` array, NULL where the amount is empty;
* timestamps: ISO 8601 text **with an offset**. A value without one (``2022-11-11 12:08:07``, what
  Checkout.com writes) is a wall time in the settlement time zone of the line's ``Client Entity
  ID`` (:class:`TimeZones`, default UTC); a value with an offset keeps it. Wall times are read
  with ``fold=0`` (:mod:`zoneinfo`): in an autumn fold the earlier instant, in a spring gap the
  offset in force before the gap. Fractions beyond microseconds are truncated, never rounded;
* dates: ``YYYY-MM-DD``.

Financial-action lines also get their staging key (:func:`line_key`, docs/warehouse.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc
from xxhash import xxh3_64_intdigest, xxh3_128_hexdigest

from checkout_freshportal import money
from checkout_freshportal.warehouse import report_csv as rc

_UTC_SUFFIX = "+00:00"
_UTC = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NULL_TEXT = pa.scalar(None, pa.string())
_E8 = 100_000_000
#: Identity columns of a financial-action line, in digest order (docs/warehouse.md).
IDENTITY_COLUMNS = (
    "action_id",
    "action_type",
    "breakdown_type",
    "holding_currency",
    "holding_amount_e8",
    "processing_currency",
    "processing_amount_e8",
    "tax_currency",
    "tax_amount_e8",
)
#: Separator of the identity's parts (ASCII unit separator: not found in report values).
SEP = "\x1f"


def line_key(identity: str, occurrence: int) -> str:
    """The 32-hex-digit xxh3-128 hash of ``identity`` (:func:`identity_of`) and the occurrence
    (1, 2, ... among identical identities of one file). xxh3, not md5: the key is an identity,
    not a security boundary, and xxh3 costs a tenth of md5's time on every line of every file
    (migration 0007 re-keyed the md5 keys)."""
    return xxh3_128_hexdigest(f"{identity}{SEP}{occurrence}".encode())


def identity_of(row: Mapping[str, object]) -> str:
    """A staged line's identity as :meth:`TypedBlock.identities` writes it: the
    :data:`IDENTITY_COLUMNS` (NULL as empty) and ``processed_on`` as UTC microseconds since the
    epoch. The instant is part of it so that copies of one identity at different instants are
    numbered apart: a file holding only the later copy keys it as the file holding both does."""
    instant = row["processed_on"]
    assert isinstance(instant, datetime)
    if instant.tzinfo is None:  # SQLite hands back UTC without an offset
        instant = instant.replace(tzinfo=UTC)
    micros = (instant - _EPOCH) // timedelta(microseconds=1)
    values = ("" if row[c] is None else str(row[c]) for c in IDENTITY_COLUMNS)
    return SEP.join((*values, str(micros)))


def zone_named(name: str) -> ZoneInfo:
    """An IANA zone; ValueError naming it if the system's tz database does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


@dataclass(frozen=True)
class TimeZones:
    """The settlement time zone of report timestamps without an offset, per client entity."""

    default: str = "UTC"
    by_entity: Mapping[str, str] = field(default_factory=dict)  # Client Entity ID -> IANA zone

    def __post_init__(self) -> None:
        for name in (self.default, *self.by_entity.values()):
            zone_named(name)

    @property
    def uniform(self) -> bool:
        return all(z == self.default for z in self.by_entity.values())


@lru_cache(maxsize=64)
def _offset_of(zone: str) -> Callable[[str], str]:
    """``minute text -> offset text`` for one zone, cached per minute (transitions fall on whole
    minutes, so every second of a minute has the minute's offset)."""
    if zone == "UTC":
        return lambda _minute: _UTC_SUFFIX
    tz = zone_named(zone)
    cache: dict[str, str] = {}

    def offset(minute: str) -> str:
        off = cache.get(minute)
        if off is None:
            local = datetime.fromisoformat(minute).replace(tzinfo=tz)  # fold=0
            off = local.isoformat()[-6:]
            if len(cache) > 100_000:
                cache.clear()
            cache[minute] = off
        return off

    return offset


def _ts_general(value: str, zone: str) -> str:
    """Any valid report timestamp -> ISO text with an offset (see the module)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone_named(zone))
    return dt.isoformat(sep=" ")


def _ts_column(values: Sequence[str], zone: str) -> list[str]:
    offset = _offset_of(zone)
    if zone == "UTC":
        return [(v + _UTC_SUFFIX if len(v) == 19 else _ts_general(v, zone)) if v else "" for v in values]
    return [(v + offset(v[:16]) if len(v) == 19 else _ts_general(v, zone)) if v else "" for v in values]


def _ts_column_by_entity(values: Sequence[str], entities: Sequence[str], zones: TimeZones) -> list[str]:
    get = zones.by_entity.get
    out: list[str] = []
    for v, e in zip(values, entities, strict=True):
        if not v:
            out.append("")
            continue
        zone = get(e, zones.default)
        out.append(v + _offset_of(zone)(v[:16]) if len(v) == 19 else _ts_general(v, zone))
    return out


def _utc_date(value: str, zone: str) -> str:
    """A date column holding a timestamp: the UTC date of that instant."""
    return datetime.fromisoformat(_ts_general(value, zone)).astimezone(UTC).date().isoformat()


@lru_cache(maxsize=512)
def _exponent(currency: str) -> int:
    return money.exponent(currency)


_E8S = pa.scalar(Decimal(_E8), pa.decimal128(9, 0))
_DEC = pa.decimal128(20, 8)


def _amount_columns(values: pa.Array, currencies: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(``_e8`` texts, ``_e8`` and ``_minor`` as ``int64``) of an amount column; ``""`` (NULL for
    the integers) where the value is empty. Only ``_e8`` is needed as text (it is part of the
    line's identity); minor units stay integers.

    Exact kernels: the validated text (at most 8 decimals, 10 or 11 integer digits within int64
    range) is cast to ``decimal128(20, 8)`` and times 1e8 is ``_e8``, an integer. ``_minor`` is
    ``_e8`` divided by 10^(8 - exponent of the line's currency), rounded half-to-even, in integer
    arithmetic (one pass whatever the mix of exponents; docs/money.md)."""
    n = len(values)
    filled = pc.not_equal(values, "")
    null = pa.scalar(None, pa.int64())
    if not pc.any(filled).as_py():  # a column a file leaves empty (tax, often): nothing to cast
        nulls = pa.nulls(n, pa.int64())
        return pa.repeat(pa.scalar("", pa.string()), n), nulls, nulls
    dec = pc.cast(pc.if_else(filled, values, "0"), _DEC)
    e8 = pc.cast(pc.multiply(dec, _E8S), pa.int64())
    minor = _round_half_even(e8, _divisors(currencies))
    return (
        pc.if_else(filled, pc.cast(e8, pa.string()), ""),
        pc.if_else(filled, e8, null),
        pc.if_else(filled, minor, null),
    )


def _divisors(currencies: pa.Array) -> pa.Array:
    """10^(8 - exponent) per line: what turns ``_e8`` into minor units of its currency (a line
    without a currency has no amount; exponent 2 keeps the arithmetic defined for it)."""
    unique = pc.unique(currencies)
    divisors = pa.array([10 ** (8 - (_exponent(c) if c else 2)) for c in unique.to_pylist()], pa.int64())
    return pc.take(divisors, pc.index_in(currencies, value_set=unique))


def _round_half_even(e8: pa.Array, divisor: pa.Array) -> pa.Array:
    """``e8 / divisor`` rounded half-to-even, in int64 (``divide`` truncates toward zero)."""
    q = pc.divide(e8, divisor)
    twice_rest = pc.multiply(pc.abs(pc.subtract(e8, pc.multiply(q, divisor))), 2)
    odd = pc.not_equal(pc.bit_wise_and(pc.abs(q), 1), 0)
    away = pc.or_(pc.greater(twice_rest, divisor), pc.and_(pc.equal(twice_rest, divisor), odd))
    return pc.add(q, pc.if_else(away, pc.sign(e8), 0))


def _ts_arrow(values: pa.Array, zone: str) -> pa.Array:
    """Timestamps of one zone: ``YYYY-MM-DD hh:mm:ss`` in UTC (what Checkout.com writes) gets
    ``+00:00`` by a string kernel; any other shape or zone goes through Python per value."""
    if zone == "UTC":
        lengths = pc.binary_length(values)
        plain = pc.equal(lengths, 19)
        if pc.all(pc.or_(plain, pc.equal(lengths, 0))).as_py():
            return pc.if_else(plain, pc.binary_join_element_wise(values, _UTC_SUFFIX, ""), values)
    return pa.array(_ts_column(values.to_pylist(), zone), pa.string())


@dataclass
class TypedBlock:
    """A batch's staged columns (canonical values, see the module), in ``columns`` order."""

    first: int  # line number of the batch's first line
    n: int
    columns: tuple[str, ...]
    arrays: list[pa.Array]  # one array per column: text, or int64 for minor units
    #: typed versions the converter had anyway (amounts as ``int64``): the binary COPY uses them
    #: instead of parsing the text again
    typed: dict[str, pa.Array] = field(default_factory=dict)
    _lists: dict[str, list[str]] = field(default_factory=dict)

    def array(self, name: str) -> pa.Array:
        return self.arrays[self.columns.index(name)]

    def column(self, name: str) -> list[str]:
        got = self._lists.get(name)
        if got is None:
            got = self._lists[name] = self.array(name).to_pylist()
        return got

    @property
    def values(self) -> list[list[str]]:
        return [self.column(c) for c in self.columns]

    def identities(self) -> pa.Array:
        """The :data:`IDENTITY_COLUMNS` and the ``processed_on`` instant (UTC microseconds since
        the epoch), joined by :data:`SEP` (see :func:`line_key`)."""
        instant = pc.cast(pc.cast(self.typed["processed_on"], pa.int64()), pa.string())
        return pc.binary_join_element_wise(*(self.array(c) for c in IDENTITY_COLUMNS), instant, SEP)


class Converter:
    """Converts the validated batches of one file (one layout, one set of time zones)."""

    def __init__(self, spec: rc.ReportSpec, hmap: rc.HeaderMap, zones: TimeZones) -> None:
        self.spec, self.hmap, self.zones = spec, hmap, zones
        self.columns = spec.staged_columns
        self._entity = hmap.index.get("Client Entity ID")

    def convert(self, batch: pa.RecordBatch, first: int) -> TypedBlock:
        """The batch's (valid) lines converted; see the module for the canonical values."""
        n = batch.num_rows
        cols = batch.columns
        empty = pa.repeat(pa.scalar("", pa.string()), n)
        out: list[pa.Array] = []
        by_entity = self._entity is not None and not self.zones.uniform
        upper: dict[int, pa.Array] = {}  # currency columns, upper-cased
        typed: dict[str, pa.Array] = {}
        for f in self.spec.fields:
            i = self.hmap.index[f.header]
            if i is None:
                out.extend(empty for _ in f.staged_columns)
            elif f.kind in ("text", "decimal"):
                out.append(cols[i])
            elif f.kind == "currency":
                upper[i] = pc.utf8_upper(cols[i])
                out.append(upper[i])
            elif f.kind == "amount":
                ci = self.hmap.index[f.currency or ""]
                currencies = (upper.get(ci) or pc.utf8_upper(cols[ci])) if ci is not None else empty
                e8, e8_int, minor = _amount_columns(cols[i], currencies)
                out += [e8, minor]
                typed[f.staged_columns[0]] = e8_int
            elif f.kind == "date":
                dates = [v if len(v) <= 10 else _utc_date(v, self.zones.default) for v in cols[i].to_pylist()]
                out.append(pa.array(dates, pa.string()))
            elif by_entity:
                assert self._entity is not None
                values, entities = cols[i].to_pylist(), cols[self._entity].to_pylist()
                out.append(pa.array(_ts_column_by_entity(values, entities, self.zones), pa.string()))
            else:
                out.append(_ts_arrow(cols[i], self.zones.default))
            if f.kind == "ts":  # the instant, for the binary COPY and the line's identity
                text = out[-1]
                typed[f.column] = pc.cast(pc.if_else(pc.equal(text, ""), _NULL_TEXT, text), _UTC)
        return TypedBlock(first, n, self.columns, out, typed)


def content_hashes(block: TypedBlock, columns: Sequence[str]) -> pa.Array:
    """A 64-bit hash (xxh3, as a signed ``int64``) of each line's ``columns``, joined like the
    identity (docs/warehouse.md "Content hash").

    Stored with the line, it tells whether a line arriving again in an overlapping file carries
    anything new without sending the line to the server to compare it column by column. Not a
    security boundary (xxh3 is not cryptographic): two different contents colliding would only
    skip an update, at odds of 2^-64 per changed line.
    """
    joined = pc.cast(pc.binary_join_element_wise(*(block.array(c) for c in columns), SEP), pa.binary())
    unsigned = pa.array(list(map(xxh3_64_intdigest, joined.to_pylist())), pa.uint64())
    return unsigned.cast(pa.int64(), safe=False)


class LineKeys:
    """Staging keys of the financial-action lines of one file, in file order (see :func:`line_key`).

    Remembers the keys of occurrence 1 handed out so far (about 100 bytes a line) to number the
    identical lines of the file: the first copy gets occurrence 1, the next 2, and so on, so the
    same lines arriving again in another file get the same keys.
    """

    def __init__(self) -> None:
        self._first: set[str] = set()
        self._copies: dict[str, int] = {}  # occurrence-1 key of a repeated identity -> copies so far

    def keys(self, block: TypedBlock) -> tuple[list[str], list[str]]:
        """(line keys, occurrences as text) of the block's lines."""
        joined = block.identities()
        first = pc.cast(pc.binary_join_element_wise(joined, "1", SEP), pa.binary()).to_pylist()
        keys = list(map(xxh3_128_hexdigest, first))
        occurrences = ["1"] * len(keys)
        fresh = set(keys)
        earlier = fresh & self._first  # identities seen in earlier blocks
        self._first |= fresh
        repeated = set(earlier)
        if len(fresh) != len(keys):  # identical lines inside the block (counted in C, not per line)
            repeated |= {k for k, n in Counter(keys).items() if n > 1}
        if repeated:
            self._number(joined.to_pylist(), keys, occurrences, repeated, earlier)
        return keys, occurrences

    def _number(
        self,
        identity: list[str],
        keys: list[str],
        occurrences: list[str],
        repeated: set[str],
        earlier: set[str],
    ) -> None:
        """Number the copies of repeated identities in file order (the first copy keeps 1)."""
        counts = self._copies
        for i in [i for i, k in enumerate(keys) if k in repeated]:
            k = keys[i]
            c = counts.get(k)
            n = (1 if k in earlier else 0) + 1 if c is None else c + 1
            counts[k] = n
            if n > 1:
                keys[i] = line_key(identity[i], n)
                occurrences[i] = str(n)
