"""The ``--from``/``--to`` range of the rebuild commands: half-open, timezone-aware UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RangeError(ValueError):
    """A range an operator must correct (unparsable, empty or reversed)."""


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)``; ``notes`` says what was assumed (a timestamp without offset read as UTC)."""

    start: datetime
    end: datetime
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str]:
        return {"from": format_ts(self.start), "to": format_ts(self.end)}


def _one(name: str, text: str) -> tuple[datetime, str | None]:
    try:
        return _parse_one(name, text)
    except OverflowError:  # year 1 or 9999 moved past the calendar by its offset
        raise RangeError(f"{name} {text!r} is out of range (years 1 to 9999 in UTC)") from None


def _parse_one(name: str, text: str) -> tuple[datetime, str | None]:
    # a bare date is its midnight
    full = text.strip() + "T00:00:00" if _DATE.fullmatch(text.strip()) else text
    try:
        strict = parse_ts(full)
        note = None
    except TimestampError:
        try:
            strict = parse_ts(full, assume_utc=True)
        except TimestampError:
            raise RangeError(f"{name} {text!r} is not an ISO 8601 timestamp") from None
        note = f"{name} {text!r} has no UTC offset: read as UTC"
    if strict is None:
        raise RangeError(f"{name} is empty")
    return strict, note


def parse_range(start: str, end: str) -> TimeRange:
    """The range of two ISO 8601 texts; a text without an offset is UTC (as ``cfp ingest --from``)
    and the returned notes say so, so the operator sees the assumption."""
    s, n1 = _one("--from", start)
    e, n2 = _one("--to", end)
    if s >= e:
        raise RangeError(f"--from {format_ts(s)} is not before --to {format_ts(e)}: the range is empty")
    return TimeRange(s, e, tuple(n for n in (n1, n2) if n))
