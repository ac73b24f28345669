"""Per-source cursors (``sync_watermarks``) that only move forward.

Call :func:`set_watermark` inside the transaction that lands the rows the new value covers: then
the cursor can never be ahead of the data (a crash rolls back both). A value older than the stored
one is ignored (returns False) unless ``allow_backwards=True``; that makes a late retry of an
earlier run harmless. Backfills should not call it at all.

Values are text. Ordering: two ISO 8601 timestamps compare as instants, two integers as numbers,
anything else as text (so opaque cursors must be order-preserving, or be set with
``allow_backwards=True``).
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts, utcnow
from checkout_freshportal.warehouse.schema import sync_watermarks

_INT = re.compile(r"^-?[0-9]+$")


def get_watermark(conn: Connection, source: str) -> str | None:
    t = sync_watermarks
    return conn.execute(sa.select(t.c.value).where(t.c.source == source)).scalar_one_or_none()


def get_watermark_ts(conn: Connection, source: str) -> datetime | None:
    """The watermark as an aware UTC datetime (None if never set)."""
    value = get_watermark(conn, source)
    return parse_ts(value, assume_utc=True) if value is not None else None


def _as_text(value: str | datetime | int) -> str:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, bool):
        raise TypeError("a watermark is a str, datetime or int, not bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise TypeError(f"a watermark is a non-empty str, datetime or int, not {value!r}")


def compare_values(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is before, equal to or after ``b`` (see the module docstring)."""
    try:
        ta, tb = parse_ts(a, assume_utc=True), parse_ts(b, assume_utc=True)
    except TimestampError:
        ta = tb = None
    if ta is not None and tb is not None:
        return (ta > tb) - (ta < tb)
    if _INT.match(a) and _INT.match(b):
        ia, ib = int(a), int(b)
        return (ia > ib) - (ia < ib)
    return (a > b) - (a < b)


def set_watermark(
    conn: Connection,
    source: str,
    value: str | datetime | int,
    run_id: str | None = None,
    *,
    allow_backwards: bool = False,
) -> bool:
    """Move ``source``'s watermark to ``value``; False when it would move backwards (kept)."""
    text = _as_text(value)
    t = sync_watermarks
    now = utcnow()
    ins_mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Insert-if-absent first: it takes SQLite's write lock before we read, and on PostgreSQL a
    # row then exists to lock, so concurrent writers of one source serialise.
    created = conn.execute(
        ins_mod.insert(t)
        .values(source=source, value=text, updated_at=now, run_id=run_id)
        .on_conflict_do_nothing(index_elements=["source"])
        .returning(t.c.source)
    ).first()
    if created is not None:
        return True
    current_q = sa.select(t.c.value).where(t.c.source == source)
    if conn.dialect.name == "postgresql":
        current_q = current_q.with_for_update()
    current = conn.execute(current_q).scalar_one()
    order = compare_values(text, current)
    if order == 0 or (order < 0 and not allow_backwards):
        return order == 0
    conn.execute(sa.update(t).where(t.c.source == source).values(value=text, updated_at=now, run_id=run_id))
    return True


def set_watermark_ts(
    conn: Connection,
    source: str,
    value: datetime,
    run_id: str | None = None,
    *,
    allow_backwards: bool = False,
) -> bool:
    if value.tzinfo is None:
        raise TimestampError("naive datetime")
    return set_watermark(conn, source, format_ts(value), run_id, allow_backwards=allow_backwards)
