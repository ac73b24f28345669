"""Strict reading of FreshPortal dates: ISO 8601 on some endpoints, ``DD-MM-YYYY`` on others.

Public integration code shows FreshPortal writing some dates as ``DD-MM-YYYY`` and others as ISO
8601 (docs/freshportal.md#known-vs-assumed). The two forms are told apart by *shape* (where the four-digit
year stands), never by guessing: ``05-06-2024`` is 5 June because the contract says day first,
and ``12-31-2024`` is refused (there is no month 31), it is never read as month-day. Anything
else -- slashes, two-digit years, missing zero padding, a date-time where a date is expected,
a timestamp without a UTC offset in ISO form -- is refused with a :class:`DataError` naming the
field and the record, so a tenant whose format differs fails loudly on the first record.

``DD-MM-YYYY HH:MM[:SS]`` date-times carry no offset; the contract assumes they are wall-clock
time in the tenant's zone (mapping ``local_timezone``, default Europe/Amsterdam). A wall-clock
time that does not exist (the spring-forward gap) is refused; one that exists twice (the
autumn fall-back hour) is read as the earlier instant -- a documented rule, not a guess, and
the contract only uses this form for informational timestamps (refund ``requested_at``, note
``created_at``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from ..timeutil import TimestampError, parse_ts
from .errors import DataError

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DMY_DATE = re.compile(r"^(\d{2})-(\d{2})-(\d{4})$")
_DMY_DATETIME = re.compile(r"^(\d{2})-(\d{2})-(\d{4})[ T](\d{2}):(\d{2})(?::(\d{2}))?$")
_ISO_DATETIME_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def _fail(field: str, record: str | None, value: object, expected: str) -> DataError:
    where = f" of {record}" if record else ""
    return DataError(
        f"field {field!r}{where}: {value!r} is not {expected} (formats are never guessed)",
        field=field,
        record=record,
    )


def _make_date(y: str, m: str, d: str, field: str, record: str | None, value: object) -> date:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        raise _fail(field, record, value, "a valid calendar date") from None


def parse_date(value: object, *, field: str, record: str | None = None) -> date | None:
    """``YYYY-MM-DD`` or ``DD-MM-YYYY`` -> :class:`date`; ``None``/``""`` -> ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, record, value, "a date string")
    text = value.strip()
    if not text:
        return None
    if m := _ISO_DATE.match(text):
        return _make_date(m.group(1), m.group(2), m.group(3), field, record, value)
    if m := _DMY_DATE.match(text):
        return _make_date(m.group(3), m.group(2), m.group(1), field, record, value)
    raise _fail(field, record, value, "a date as YYYY-MM-DD or DD-MM-YYYY")


def parse_datetime(
    value: object, *, field: str, record: str | None = None, local_tz: ZoneInfo | None = None
) -> datetime | None:
    """ISO 8601 with an offset, or ``DD-MM-YYYY HH:MM[:SS]`` in ``local_tz`` -> aware UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, record, value, "a timestamp string")
    text = value.strip()
    if not text:
        return None
    if _ISO_DATETIME_START.match(text):
        try:
            return parse_ts(text)
        except TimestampError:
            raise _fail(field, record, value, "an ISO 8601 timestamp with a UTC offset") from None
    if m := _DMY_DATETIME.match(text):
        if local_tz is None:
            raise _fail(field, record, value, "a timestamp with a known time zone")
        day = _make_date(m.group(3), m.group(2), m.group(1), field, record, value)
        try:
            local = datetime(
                day.year,
                day.month,
                day.day,
                int(m.group(4)),
                int(m.group(5)),
                int(m.group(6) or 0),
                tzinfo=local_tz,
                fold=0,
            )
        except ValueError:
            raise _fail(field, record, value, "a valid time of day") from None
        naive = local.replace(tzinfo=None)
        # A wall-clock time in the spring-forward gap does not survive a round trip through UTC.
        if local.astimezone(UTC).astimezone(local_tz).replace(tzinfo=None) != naive:
            raise _fail(field, record, value, f"an existing wall-clock time in {local_tz.key}")
        return local.astimezone(UTC)
    raise _fail(field, record, value, "an ISO 8601 timestamp or DD-MM-YYYY HH:MM[:SS]")


def format_dmy(day: date) -> str:
    """``date(2024, 5, 6)`` -> ``"06-05-2024"`` (the contract's DD-MM-YYYY form)."""
    return f"{day.day:02d}-{day.month:02d}-{day.year:04d}"


def format_iso_date(day: date) -> str:
    """``YYYY-MM-DD``, e.g. for the export's ``mutation_datetime`` parameter."""
    return day.isoformat()
