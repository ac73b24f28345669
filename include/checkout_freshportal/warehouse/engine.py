"""Engines for the warehouse: SQLite (the demo, small installs) and PostgreSQL (production, tests).

SQLite is configured on every new DBAPI connection (pragmas are per connection, except WAL which
is persistent): WAL so readers never block the writer, a 30 s busy timeout so concurrent Airflow
tasks and the webhook sidecar wait instead of failing, foreign keys on (off by default in SQLite),
and ``synchronous=NORMAL`` (durable at checkpoints; the safe pairing with WAL).

The stdlib ``sqlite3`` driver does not BEGIN before SELECT or DDL and so breaks savepoints and
transactional DDL; as SQLAlchemy documents, we switch its own transaction handling off and emit
BEGIN ourselves, so ``engine.begin()`` means the same thing on both engines.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.config import warehouse_url

SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("journal_mode", "WAL"),
    ("busy_timeout", "30000"),
    ("foreign_keys", "ON"),
    ("synchronous", "NORMAL"),
)


def default_url() -> str:
    """``CFP_WAREHOUSE_URL``, or :class:`~checkout_freshportal.config.WarehouseNotConfiguredError`.

    No fallback file: the embedded SQLite warehouse belongs to the demo, which passes its URL
    explicitly; anywhere else a missing setting must stop the process, not create a warehouse.
    """
    return warehouse_url()


def normalize_url(url: str | sa.URL) -> sa.URL:
    """PostgreSQL URLs always go through psycopg 3 (``postgres://`` and ``postgresql://`` too)."""
    u = sa.make_url(url)
    if u.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
        u = u.set(drivername="postgresql+psycopg")
    return u


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact; json has no decimal type and a float would round
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, compact): equal objects serialise equally on SQLite."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def make_engine(
    url: str | sa.URL | None = None,
    *,
    sqlite_begin: Literal["DEFERRED", "IMMEDIATE"] = "DEFERRED",
    **kwargs: Any,
) -> Engine:
    """An engine for the warehouse at ``url`` (None: :func:`default_url`, which may raise).

    ``sqlite_begin="IMMEDIATE"`` takes SQLite's write lock at BEGIN; the default DEFERRED keeps
    read-only connections lock-free (the write helpers of this package claim the lock themselves
    before their first read, see :func:`claim_sqlite_write_lock`).
    """
    u = normalize_url(url if url is not None else default_url())
    kwargs.setdefault("json_serializer", json_dumps)
    if u.get_backend_name() == "sqlite":
        engine = sa.create_engine(u, **kwargs)
        _install_sqlite_hooks(engine, sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(u, **kwargs)


def ensure_sqlite_folder(url: sa.URL) -> None:
    """The folder of a file-based SQLite URL, created: what creating the warehouse (``cfp db
    upgrade``) needs. Only there: every engine used to create it, so a read-only command given
    a mistyped path (``cfp report --url sqlite:////nonexistent/dir/w.sqlite``) left folders
    behind before saying the warehouse was not migrated."""
    if url.get_backend_name() != "sqlite":
        return
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_hooks(engine: Engine, begin: str) -> None:
    if begin not in {"DEFERRED", "IMMEDIATE"}:
        raise ValueError(f"sqlite_begin must be DEFERRED or IMMEDIATE, not {begin!r}")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        try:
            for name, value in SQLITE_PRAGMAS:
                cur.execute(f"PRAGMA {name}={value}")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {begin}")


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def claim_sqlite_write_lock(conn: Connection) -> None:
    """Take SQLite's write lock now, before a read-then-write sequence.

    In WAL mode a deferred transaction that read first and then writes fails at once with
    SQLITE_BUSY (no waiting) if another connection committed in between. A write statement that
    touches no row acquires the lock (and waits up to ``busy_timeout``); afterwards the reads
    and the writes of this transaction see one consistent state. No-op on PostgreSQL.
    """
    if is_sqlite(conn):
        conn.exec_driver_sql("DELETE FROM sync_watermarks WHERE 0")


def sqlite_pragmas(conn: Connection) -> dict[str, str]:
    """The pragmas in effect on this connection (for tests and ``cfp db`` diagnostics)."""
    return {name: str(conn.exec_driver_sql(f"PRAGMA {name}").scalar()) for name, _ in SQLITE_PRAGMAS}
