"""Timestamps as the outside world writes them, read strictly into aware UTC datetimes.

Checkout.com writes ISO 8601 with 0 to 7 fractional digits and either ``Z`` or ``+00:00``
(``z``, a lower-case ``t`` and whole-hour offsets such as ``+02`` are read too);
Python keeps microseconds, so a seventh digit is truncated (never rounded up into the next
second). Some of its JSON objects carry no offset at all (a report's ``created_on``,
``2022-12-11T03:00:23.859192``): its API times are UTC, so :func:`parse_api_ts` reads those as
UTC, while :func:`parse_ts` keeps refusing them for text whose zone nobody has stated.
FreshPortal also writes ``DD-MM-YYYY`` dates on some endpoints (see freshportal/).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import PermanentError

# RFC 3339 (5.6) lets ``T`` and ``Z`` be lower case; ISO 8601 lets an offset be whole hours
# (``+02``). Both are read; everything else about the shape stays exact.
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)


class TimestampError(PermanentError, ValueError):
    """A timestamp that does not parse exactly; never guessed (permanent: a retry reads the same text)."""


def parse_ts(value: str | datetime | None, *, assume_utc: bool = False) -> datetime | None:
    """ISO 8601 text to an aware UTC datetime; ``None`` stays ``None``.

    A timestamp without an offset is refused unless ``assume_utc`` (some report CSVs omit it).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if not text:
            return None
        m = _ISO.match(text)
        if not m:
            raise TimestampError(f"not an ISO 8601 timestamp: {value!r}")
        frac = (m.group(7) or "")[:6].ljust(6, "0")
        tz = m.group(8)
        base = f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6) or '00'}.{frac}"
        if tz is None:
            if not assume_utc:
                raise TimestampError(f"timestamp without a UTC offset: {value!r}")
            tz = "+00:00"
        elif tz in ("Z", "z"):
            tz = "+00:00"
        elif len(tz) == 3:
            tz = f"{tz}:00"
        elif ":" not in tz:
            tz = f"{tz[:3]}:{tz[3:]}"
        try:
            dt = datetime.fromisoformat(base + tz)
        except ValueError as exc:
            raise TimestampError(f"invalid timestamp {value!r}: {exc}") from None
    if dt.tzinfo is None:
        if not assume_utc:
            raise TimestampError(f"naive datetime: {dt!r}")
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_api_ts(value: str | datetime | None) -> datetime | None:
    """A timestamp of a Checkout.com API object: every API time is UTC (docs/checkout-com.md#timestamps),
    so one written without an offset is UTC, not an error that would stop a whole listing."""
    return parse_ts(value, assume_utc=True)


def format_ts(dt: datetime) -> str:
    """UTC ISO 8601 with microseconds and ``Z``, the form the API accepts in filters."""
    if dt.tzinfo is None:
        raise TimestampError("naive datetime")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_ts_or_none(dt: datetime | None) -> str | None:
    """:func:`format_ts`, with an unknown instant staying unknown (JSON ``null``)."""
    return None if dt is None else format_ts(dt)


def utcnow() -> datetime:
    return datetime.now(UTC)
