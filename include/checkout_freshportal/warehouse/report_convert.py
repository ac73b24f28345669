"""One converter for both engines: a validated block of report lines -> typed columns and keys.

Both load paths (PostgreSQL COPY, SQLite ``executemany``) stage what this module produces, so
they cannot disagree. It works **column by column** (a list per column, C-level ``map`` and list
comprehensions) rather than line by line: a Python call per value is what made line-wise
conversion cost more than the server's COPY.

Canonical values (:class:`TypedBlock`), ``""`` meaning NULL:

* text: verbatim; currencies upper-cased;
* amounts: ``*_e8`` (exact integer 1e-8 units) and ``*_minor`` (ROUND_HALF_EVEN at the
  currency's ISO 4217 exponent, docs/money.md), as decimal text;
* timestamps: ISO 8601 text **with an offset**. A value without one (``2022-11-11 12:08:07``, what
  Checkout.com writes) is a wall time in the settlement time zone of the line's ``Client Entity
  ID`` (:class:`TimeZones`, default UTC); a value with an offset keeps it. Wall times are read
  with ``fold=0`` (:mod:`zoneinfo`): in an autumn fold the earlier instant, in a spring gap the
  offset in force before the gap. Fractions beyond microseconds are truncated, never rounded;
* dates: ``YYYY-MM-DD``.

Financial-action lines also get their staging key (:func:`line_key`, docs/warehouse.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from itertools import repeat
from operator import add, floordiv, itemgetter, methodcaller, mod
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checkout_freshportal import money
from checkout_freshportal.warehouse import report_csv as rc

_UTC_SUFFIX = "+00:00"
_E8 = 100_000_000
_ZEROS = ["0" * k for k in range(9)]
_first, _third = itemgetter(0), itemgetter(2)
_md5 = partial(hashlib.md5, usedforsecurity=False)
_hexdigest = methodcaller("hexdigest")
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
    """The 32-hex-digit md5 of ``identity`` (the :data:`IDENTITY_COLUMNS` joined by :data:`SEP`,
    NULL as empty) and the occurrence (1, 2, ... among identical identities of one file)."""
    return hashlib.md5(f"{identity}{SEP}{occurrence}".encode(), usedforsecurity=False).hexdigest()


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


def _e8(v: str) -> int:
    i = v.find(".")
    if i < 0:
        return int(v) * _E8
    frac = v[i + 1 :]
    return int(v[:i] + frac + _ZEROS[8 - len(frac)])


@lru_cache(maxsize=512)
def _divisor(currency: str) -> int:
    return 10 ** (8 - money.exponent(currency))


def _minor(e8: int, currency: str) -> int:
    """ROUND_HALF_EVEN of ``e8`` 1e-8 units to the currency's minor unit, in integers."""
    d = _divisor(currency)
    q, r = divmod(e8, d)  # floor division: 0 <= r < d for negative amounts too
    if 2 * r > d or (2 * r == d and q & 1):
        q += 1
    return q


def _amount_columns(values: Sequence[str], currencies: Sequence[str]) -> tuple[list[str], list[str]]:
    """(``_e8`` texts, ``_minor`` texts) of an amount column; ``""`` where the value is empty.

    C-level ``map`` chains only: ``"-1.6"`` -> ``("-1", ".", "6")`` -> ``"-1" + "60000000"`` ->
    ``int`` (the grammar guarantees digits before the point and at most 8 after it). Minor units:
    ``(e8 + d/2) // d`` rounds half up; an exact tie (remainder 0 after adding d/2, rare) with an
    odd result steps down one, which makes it half-even."""
    if "" in values:
        return _amount_columns_sparse(values, currencies)
    parts = list(map(str.partition, values, repeat(".")))
    fracs = map(str.ljust, map(_third, parts), repeat(8), repeat("0"))
    e8s = list(map(int, map(add, map(_first, parts), fracs)))
    divisors = list(map(_divisor, currencies))
    shifted = list(map(add, e8s, map(floordiv, divisors, repeat(2))))
    minors = list(map(floordiv, shifted, divisors))
    rems = list(map(mod, shifted, divisors))
    if 0 in rems:
        for i, r in enumerate(rems):
            if r == 0 and minors[i] & 1:
                minors[i] -= 1
    return list(map(str, e8s)), list(map(str, minors))


def _amount_columns_sparse(values: Sequence[str], currencies: Sequence[str]) -> tuple[list[str], list[str]]:
    e8_out, minor_out = [], []
    for v, c in zip(values, currencies, strict=True):
        if v:
            x = _e8(v)
            e8_out.append(str(x))
            minor_out.append(str(_minor(x, c)))
        else:
            e8_out.append("")
            minor_out.append("")
    return e8_out, minor_out


def _round(x: int, d: int) -> int:
    q, r = divmod(x, d)
    if 2 * r > d or (2 * r == d and q & 1):
        q += 1
    return q


def _upper(values: Sequence[str]) -> Sequence[str]:
    return values if all(map(str.isupper, set(values) - {""})) else [v.upper() for v in values]


@dataclass
class TypedBlock:
    """A block's staged columns (canonical text, ``""`` = NULL), in ``columns`` order."""

    first: int  # line number of the block's first line
    n: int
    columns: tuple[str, ...]
    values: list[Sequence[str]]  # one list per column
    plain: bool = True  # read by the fast split: no value holds a comma, quote or line break

    def column(self, name: str) -> Sequence[str]:
        return self.values[self.columns.index(name)]


class Converter:
    """Converts the validated blocks of one file (one layout, one set of time zones)."""

    def __init__(self, spec: rc.ReportSpec, hmap: rc.HeaderMap, zones: TimeZones) -> None:
        self.spec, self.hmap, self.zones = spec, hmap, zones
        self.columns = spec.staged_columns
        self._entity = hmap.index.get("Client Entity ID")

    def convert(self, block: rc.Block, keep: Iterable[int] | None = None) -> TypedBlock:
        """The block's lines (only the indexes in ``keep`` if given: the valid ones) converted."""
        col = block.column
        if keep is not None:
            kept = list(keep)

            def col(i: int, _all: Callable[[int], Sequence[str]] = block.column) -> Sequence[str]:
                c = _all(i)
                return [c[k] for k in kept]

            n = len(kept)
        else:
            n = block.n
        empty = [""] * n
        out: list[Sequence[str]] = []
        entities = col(self._entity) if self._entity is not None and not self.zones.uniform else None
        upper: dict[int, Sequence[str]] = {}  # currency columns, upper-cased
        amounts: list[tuple[Sequence[str], Sequence[str], tuple[list[str], list[str]]]] = []
        for f in self.spec.fields:
            i = self.hmap.index[f.header]
            if i is None:
                out.extend(empty for _ in f.staged_columns)
                continue
            values = col(i)
            if f.kind in ("text", "decimal"):
                out.append(values)
            elif f.kind == "currency":
                upper[i] = _upper(values)
                out.append(upper[i])
            elif f.kind == "amount":
                ci = self.hmap.index[f.currency or ""]
                currencies = (upper.get(ci) or _upper(col(ci))) if ci is not None else empty
                for done_values, done_currencies, converted in amounts:
                    if done_values == values and done_currencies == currencies:
                        out.extend(converted)  # processing = holding amount (no FX): most lines
                        break
                else:
                    converted = _amount_columns(values, currencies)
                    amounts.append((values, currencies, converted))
                    out.extend(converted)
            elif f.kind == "date":
                out.append([v if len(v) <= 10 else _utc_date(v, self.zones.default) for v in values])
            elif entities is not None:
                out.append(_ts_column_by_entity(values, entities, self.zones))
            else:
                out.append(_ts_column(values, self.zones.default))
        return TypedBlock(block.first, n, self.columns, out, plain=block.plain)


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
        identity = list(map(SEP.join, zip(*map(block.column, IDENTITY_COLUMNS), strict=True)))
        keys = list(map(_hexdigest, map(_md5, map(str.encode, map(add, identity, repeat(SEP + "1"))))))
        occurrences = ["1"] * len(keys)
        fresh = set(keys)
        earlier = fresh & self._first  # identities seen in earlier blocks
        self._first |= fresh
        repeated = set(earlier)
        if len(fresh) != len(keys):  # identical lines inside the block
            counts: dict[str, int] = {}
            for k in keys:
                counts[k] = counts.get(k, 0) + 1
            repeated |= {k for k, n in counts.items() if n > 1}
        if repeated:
            self._number(identity, keys, occurrences, repeated, earlier)
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
