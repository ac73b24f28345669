"""Alembic environment: always driven programmatically by ``warehouse.migrate``.

The caller hands over an open connection in ``config.attributes["connection"]`` (one transaction
for the whole upgrade, DDL included, on both engines). Run without one (plain ``alembic`` CLI
with ``-x url=...`` or ``CFP_WAREHOUSE_URL``), it opens its own engine the same way.
"""

from __future__ import annotations

from alembic import context

from checkout_freshportal.warehouse.engine import ensure_sqlite_folder, is_sqlite, make_engine
from checkout_freshportal.warehouse.schema import metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=is_sqlite(connection),  # SQLite ALTER TABLE needs table rebuilds
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url or None)
    ensure_sqlite_folder(engine.url)  # `alembic upgrade` creates the warehouse too
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `cfp db upgrade`")
run_migrations_online()
