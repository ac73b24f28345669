"""Every PostgreSQL advisory lock the project takes: one key per purpose, in one place.

Keys share the ``0x0CF9_xxxx`` prefix so an operator can tell the project's locks apart in
``pg_locks`` (``classid``/``objid`` for the two-key form). A new use case takes the next free
number here; two purposes never share a key. On SQLite there are no advisory locks: the
database-wide writer lock (``claim_sqlite_write_lock``) serialises writers instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock, is_postgres

#: ``cfp db upgrade`` / ``downgrade``: two processes migrating at once do not race.
MIGRATIONS = 0x0CF9_0001
#: The sidecar's trigger-loop leader (session lock on a dedicated connection).
SIDECAR_LEADER = 0x0CF9_0002
#: Namespace of per-order locks of payment-link intents (two-key form, ``hashtext(order_id)``).
PAYMENT_LINK_ORDER = 0x0CF9_0003
#: Payment status: event application and the status push take turns on the outbox.
PAYMENT_STATUS = 0x0CF9_0004
#: Namespace of per-table locks of report loaders (two-key form, ``hashtext(table)``).
REPORT_TABLE = 0x0CF9_0005
#: Reconciliation runs take turns (session lock on a dedicated connection, for the whole run).
RECONCILIATION = 0x0CF9_0006


def xact_lock(conn: Connection, key: int, name: str | None = None) -> None:
    """Hold ``key`` (or ``key``/``name``) until the transaction ends; on SQLite, take the writer lock.

    The two-key form hashes ``name`` inside PostgreSQL, so callers lock per order or per table
    without inventing integer ids.
    """
    if not is_postgres(conn):
        claim_sqlite_write_lock(conn)
        return
    if name is None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(:n))"), {"k": key, "n": name})
