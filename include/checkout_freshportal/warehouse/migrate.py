"""Schema migrations, run programmatically (``cfp db upgrade`` calls :func:`upgrade`).

The Alembic scripts live inside the package (``warehouse/migrations``) so an installed wheel or
an Astro image can migrate without an ``alembic.ini`` at the repository root. The whole upgrade
runs in one transaction on both engines (SQLite DDL is transactional with our BEGIN handling), and
on PostgreSQL behind an advisory lock, so two processes upgrading at once do not race.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.warehouse import locks
from checkout_freshportal.warehouse.engine import is_postgres, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Arbitrary constant naming the advisory lock that serialises upgrades on PostgreSQL.


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _engine(engine_or_url: Engine | str | sa.URL | None) -> tuple[Engine, bool]:
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    return make_engine(engine_or_url), True


def upgrade(engine_or_url: Engine | str | sa.URL | None = None, revision: str = "head") -> str | None:
    """Migrate the warehouse to ``revision``; returns the revision it is at afterwards."""
    engine, owned = _engine(engine_or_url)
    try:
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": locks.MIGRATIONS})
            command.upgrade(alembic_config(conn), revision)
        return current_revision(engine)
    finally:
        if owned:
            engine.dispose()


def downgrade(engine_or_url: Engine | str | sa.URL | None, revision: str) -> str | None:
    """Migrate down to ``revision`` ("base" drops everything); for development and tests."""
    engine, owned = _engine(engine_or_url)
    try:
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": locks.MIGRATIONS})
            command.downgrade(alembic_config(conn), revision)
        return current_revision(engine)
    finally:
        if owned:
            engine.dispose()


def current_revision(engine: Engine | Connection) -> str | None:
    """The revision stamped in the database, or None for an empty (never migrated) one."""
    if isinstance(engine, Connection):
        return MigrationContext.configure(engine).get_current_revision()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(engine: Engine | Connection) -> bool:
    return current_revision(engine) == head_revision()
