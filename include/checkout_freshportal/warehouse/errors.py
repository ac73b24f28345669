"""Which database errors are about one row's values, and which are about the database.

Two writers commit many rows in one transaction (the sidecar's group commit, the events use
case's batch). Sharing a transaction must not mean sharing a failure: when the database refuses
a value, the writer isolates the row and commits the rest; when the database itself fails
(connection lost, not migrated, disk full), isolating would only repeat the failure row by row,
so the whole batch waits for the next attempt. Both writers must draw that line the same way,
so it is drawn here once.
"""

from __future__ import annotations

import sqlalchemy as sa

# SQLSTATE classes that describe the row, not the database: 22 data exception (a NUL in text,
# a value out of range), 23 integrity constraint, 54 program limit (an index row too large).
_DATA_SQLSTATE_CLASSES = ("22", "23", "54")
# Raised by a driver while adapting one value (a lone surrogate cannot be encoded to UTF-8).
_ADAPTATION_ERRORS = (UnicodeError, ValueError, OverflowError, TypeError)


def is_data_error(exc: BaseException) -> bool:
    """True if ``exc`` is about a row's values, so other rows may well commit without it."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if isinstance(orig, _ADAPTATION_ERRORS) and not isinstance(orig, sa.exc.SQLAlchemyError):
        return True
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith(_DATA_SQLSTATE_CLASSES)
    # SQLite (no SQLSTATE): its DataError ("string or blob too big") and IntegrityError are per
    # row; an OperationalError (locked, no such table, I/O) is the database.
    name = type(orig).__name__
    return name in ("DataError", "IntegrityError")
