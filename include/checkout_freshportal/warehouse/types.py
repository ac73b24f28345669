"""Column types shared by the schema and the migrations.

Two choices made once here so every table agrees:

* ``UTCDateTime``: aware UTC datetimes in, aware UTC datetimes out, on both engines. PostgreSQL
  stores ``timestamptz``; SQLite has no time zone type, so the value is normalised to UTC and
  stored naive in SQLAlchemy's fixed-width text form, which also makes text order equal time
  order (range queries and indexes work). A naive datetime is refused rather than guessed.
* ``JSONType``: ``JSON`` on SQLite, ``JSONB`` on PostgreSQL (comparable with ``IS DISTINCT FROM``,
  which the idempotent upserts rely on). ``None`` is stored as SQL NULL, not JSON ``null``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC timestamp on both engines (see the module docstring)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime refused (store UTC-aware values): {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL results on SQLite bypass the DATETIME processor
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """A fresh JSON column type (JSONB on PostgreSQL); NULL for ``None``."""
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


#: Identifiers from Checkout.com (``pay_``, ``act_``, ...) are short ASCII but unbounded by spec.
Id = sa.Text
