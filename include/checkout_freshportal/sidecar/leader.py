"""Which sidecar process runs the trigger loop: exactly one per warehouse.

With ``--workers N`` (or several replicas behind a load balancer) every process receives
webhooks, but N trigger loops would each see "no run queued" at the same moment and queue N runs.
So the loop only acts while it holds a lock tied to the warehouse:

* PostgreSQL: a session advisory lock on a dedicated connection. The loop runs its queries on
  that same connection, so if the connection dies the lock is gone on the server *and* the next
  query fails here, and the process steps down and tries again.
* SQLite (one host by nature): an ``flock`` on ``<database file>.trigger.lock``, released by the
  kernel when the process dies, SIGKILL included.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.warehouse import locks
from checkout_freshportal.warehouse.engine import is_postgres

log = logging.getLogger(__name__)

#: Arbitrary constant naming the advisory lock of the trigger loop (next to migrate's 0x0CF90001).


class Leadership(Protocol):
    def acquire(self) -> bool:
        """True while this process is the leader (takes the lock if free); cheap to call often."""

    def connection(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection for the loop's queries; a database error inside means call ``lost()``."""

    def lost(self) -> None:
        """Drop the lock (after a database error); ``acquire`` tries again later."""

    def release(self) -> None: ...


class PgLeadership:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            lock = sa.text("SELECT pg_try_advisory_lock(:k)")
            got = bool(conn.execute(lock, {"k": locks.SIDECAR_LEADER}).scalar())
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("trigger loop: this process is the leader")
        return True

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        if self._conn is None:
            raise RuntimeError("not the leader")
        yield self._conn

    def lost(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": locks.SIDECAR_LEADER})
                self._conn.close()
            self._conn = None


class FileLeadership:
    def __init__(self, engine: Engine, lock_path: Path | None) -> None:
        self.engine = engine
        self.lock_path = lock_path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None or self.lock_path is None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        log.info("trigger loop: this process is the leader")
        return True

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def lost(self) -> None:
        """A SQLite error does not mean another process may lead: keep the lock."""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def leadership_for(engine: Engine) -> Leadership:
    if is_postgres(engine):
        return PgLeadership(engine)
    db = engine.url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return FileLeadership(engine, None)
    return FileLeadership(engine, Path(db).expanduser().resolve().with_name(Path(db).name + ".trigger.lock"))
