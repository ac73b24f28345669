"""Migration 0010 builds exactly ``schema/ops_health.py`` and takes it away again, on both engines."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from checkout_freshportal.warehouse import engine as wh_engine
from checkout_freshportal.warehouse import migrate, schema

OURS = {"ops_task_failures", "ops_health_checks"}


def _only_ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in OURS


def _our_diffs(conn: sa.Connection) -> list:
    """Differences between the database and the metadata in 0010's tables (others have their tests)."""
    opts = {"compare_type": True, "compare_server_default": True, "include_object": _only_ours}
    return compare_metadata(MigrationContext.configure(conn, opts=opts), schema.metadata)


def test_0010_up_down_up(warehouse_url: str) -> None:
    assert migrate.upgrade(warehouse_url) == migrate.head_revision()
    eng = wh_engine.make_engine(warehouse_url)
    try:
        with eng.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= OURS
            assert _our_diffs(conn) == []
            pk = sa.inspect(conn).get_pk_constraint("ops_task_failures")["constrained_columns"]
            assert pk == ["dag_id", "run_id", "task_id", "map_index", "try_number"]
        migrate.downgrade(eng, "0009")
        assert migrate.current_revision(eng) == "0009"
        with eng.connect() as conn:
            assert not OURS & set(sa.inspect(conn).get_table_names())
        assert migrate.upgrade(eng) == migrate.head_revision()
        with eng.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= OURS
    finally:
        eng.dispose()
