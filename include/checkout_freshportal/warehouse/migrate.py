"""Schema migrations: a deploy step (``cfp db upgrade``), and the check every task makes.

Migrating is the deployment's job, done once per release before the new code runs (``make demo``
runs ``cfp db upgrade`` first, a compose init job will do the same). Tasks and the sidecar only
call :func:`check_current`: a schema change then happens at a moment the operator chose, under
one process, instead of inside whichever task of a release happens to start first, and a worker
that reaches a database nobody migrated (a wrong URL) fails with what to run instead of creating
a warehouse there.

The Alembic scripts live inside the package (``warehouse/migrations``) so an installed wheel or
an Astro image can migrate without an ``alembic.ini`` at the repository root. The whole upgrade
runs in one transaction on both engines (SQLite DDL is transactional with our BEGIN handling), and
on PostgreSQL behind an advisory lock, so two processes upgrading at once do not race.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.errors import PermanentError
from checkout_freshportal.warehouse import locks
from checkout_freshportal.warehouse.engine import ensure_sqlite_folder, is_postgres, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"

#: Engines already found at head in this process: the check costs one query per engine, not one
#: per task step. Weak, so a disposed and dropped engine does not stay pinned here.
_current_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


class SchemaNotCurrentError(PermanentError, RuntimeError):
    """The warehouse is not at the revision this code was written for.

    Permanent: retrying cannot migrate it (tasks never do), so the task fails at once with the
    command that fixes it. ``current`` is None for an empty (never migrated) database.
    """

    def __init__(self, message: str, current: str | None = None, expected: str | None = None) -> None:
        super().__init__(message)
        self.current = current
        self.expected = expected


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this code (cached: the scripts do not change at run time)."""
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
    return _migrate(engine_or_url, command.upgrade, revision)


def downgrade(engine_or_url: Engine | str | sa.URL | None, revision: str) -> str | None:
    """Migrate down to ``revision`` ("base" drops everything); for development and tests."""
    return _migrate(engine_or_url, command.downgrade, revision)


def _migrate(
    engine_or_url: Engine | str | sa.URL | None,
    step: Callable[[Config, str], None],
    revision: str,
) -> str | None:
    """Run one Alembic command in one transaction, serialised across processes on PostgreSQL
    (two deploy jobs migrating at once would race), and remember the revision it leaves."""
    engine, owned = _engine(engine_or_url)
    ensure_sqlite_folder(engine.url)  # creating the warehouse may create its folder
    try:
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": locks.MIGRATIONS})
            step(alembic_config(conn), revision)
        after = current_revision(engine)
        _remember(engine, after)
        return after
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


def _remember(engine: Engine, revision: str | None) -> None:
    if revision == head_revision():
        _current_engines.add(engine)
    else:
        _current_engines.discard(engine)


def stamped_revision(engine: Engine) -> str | None:
    """The revision in ``alembic_version`` with one query; None when the table does not exist.

    Cheaper than :func:`current_revision` (Alembic inspects the catalogue before reading): the
    usual case, a migrated warehouse, answers the SELECT; only a failing SELECT pays for the
    catalogue lookup that tells "never migrated" from "database unreachable" (which propagates:
    that one a retry may fix).
    """
    with engine.connect() as conn:
        try:
            rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        except sa.exc.DBAPIError:
            conn.rollback()
            if sa.inspect(conn).has_table(VERSION_TABLE):
                raise
            return None
    if len(rows) > 1:
        return ",".join(sorted(rows))  # branched history: never equal to our single head
    return rows[0] if rows else None


def check_current(engine: Engine, *, source: str | None = None) -> str:
    """Raise :class:`SchemaNotCurrentError` unless the warehouse is at head; returns the head.

    What tasks and the sidecar call instead of migrating. ``source`` says where the URL came
    from (``"Airflow Connection 'cfp_warehouse'"``, ``"CFP_WAREHOUSE_URL"``) so the message
    points at the setting to use for ``cfp db upgrade``; the URL is shown without its password.
    """
    head = head_revision()
    if engine in _current_engines:
        return head
    if sqlite_file_missing(engine):
        # Connecting would create the file: an empty warehouse where a wrong path points.
        message = _not_current_message(engine, None, head, source, state=_missing_file_state(engine))
        raise SchemaNotCurrentError(message, None, head)
    current = stamped_revision(engine)
    if current == head:
        _current_engines.add(engine)
        return head
    raise SchemaNotCurrentError(_not_current_message(engine, current, head, source), current, head)


def sqlite_file_missing(engine: Engine) -> bool:
    """True for a file-based SQLite URL whose file does not exist (SQLite creates it on connect).

    In-memory databases and ``file:`` URIs (whose path SQLAlchemy does not parse) are left to
    the connection.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file:") or url.query.get("mode") == "memory":
        return False
    return not Path(database).expanduser().exists()


def _missing_file_state(engine: Engine) -> str:
    """A missing SQLite file is not "empty": the path may be a typo, or its folder gone."""
    path = Path(engine.url.database or "").expanduser()
    folder = "" if path.parent.is_dir() else "; its folder does not exist either"
    return f"is empty (never migrated): there is no SQLite file at {path}{folder}"


def _not_current_message(
    engine: Engine, current: str | None, head: str, source: str | None, *, state: str | None = None
) -> str:
    where = engine.url.render_as_string(hide_password=True)
    origin = f", from {source}" if source else ""
    if state is not None:
        pass
    elif current is None:
        state = "is empty (never migrated)"
    elif _known(current):
        state = f"is at revision {current}"
    else:
        state = f"is at revision {current}, which this release does not know (a newer release migrated it?)"
    return (
        f"warehouse schema {state}; this release needs revision {head}. "
        f"Run the deploy step `cfp db upgrade` against this warehouse ({where}{origin}): "
        f"`cfp db upgrade --url <its URL>` or with CFP_WAREHOUSE_URL set to it. "
        "Tasks and the sidecar check the schema but never migrate it."
    )


def _known(revision: str) -> bool:
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:  # what Alembic raises for an id it cannot resolve
        return False
