"""Compare-and-set updates: an intent changes state only from the state the caller saw.

Each transition is one UPDATE guarded by the expected state (and attempt count), committed by
the caller in its own transaction, so of two runners holding the same snapshot exactly one
wins, and what the database says is always what has already happened outside.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def guarded_update(
    conn: Connection,
    table: sa.Table,
    key: sa.ColumnElement[bool],
    where: Iterable[sa.ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    """UPDATE the one row matching ``key`` and every ``where``; True if it was that row's turn."""
    result = conn.execute(sa.update(table).where(key, *where).values(**values))
    return result.rowcount == 1
