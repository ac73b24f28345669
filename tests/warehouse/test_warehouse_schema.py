"""Engines, pragmas, types and migrations: the schema Alembic builds is exactly ``schema.metadata``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from checkout_freshportal.config import WarehouseNotConfiguredError
from checkout_freshportal.warehouse import engine as wh_engine
from checkout_freshportal.warehouse import migrate, schema
from checkout_freshportal.warehouse.types import UTCDateTime

from wh_helpers import migrated_engine

ALL_TABLES = {
    "raw_api_objects",
    "raw_report_files",
    "raw_report_file_contents",
    "raw_report_rows",
    "stg_payments",
    "stg_payment_actions",
    "stg_disputes",
    "stg_financial_actions",
    "stg_payouts",
    "sync_watermarks",
    # webhook path (migration 0002), orders and payment links (0003), payment status (0004)
    "raw_webhook_events",
    "stg_orders",
    "sync_payment_link_intents",
    "stg_payment_status",
    "sync_status_outbox",
    "ops_payment_declines",
    # ingestion quarantine (0005)
    "ops_quarantine",
    # payout ids of report lines (0007)
    "stg_financial_action_payouts",
    # refunds, voids and captures; FreshPortal refund requests (0008)
    "sync_money_intents",
    "stg_refund_requests",
    # reconciliation: runs, matches, exceptions and their audit trail, totals, data quality (0009)
    "recon_runs",
    "recon_matches",
    "recon_exceptions",
    "recon_exception_events",
    "recon_run_totals",
    "recon_dq_results",
    "recon_order_invoices",
    "recon_order_facts",
    # observability: failed task instances, health check results (0010)
    "ops_task_failures",
    "ops_health_checks",
    # reconciliation's paid-out actions; BRIN indexes on the report-line tables (0011)
    "recon_paid_out_actions",
}


def _diff(conn: sa.Connection, metadata: sa.MetaData) -> list:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(ctx, metadata)


def test_metadata_has_the_documented_tables() -> None:
    assert set(schema.metadata.tables) == ALL_TABLES


def test_no_float_column_anywhere() -> None:
    for table in schema.metadata.tables.values():
        for col in table.c:
            assert not isinstance(col.type, sa.Float | sa.Numeric) or isinstance(col.type, sa.Integer), col
            if col.name.endswith(("_minor", "_e8")):
                assert isinstance(col.type, sa.BigInteger), col


def test_staged_tables_carry_bookkeeping_columns() -> None:
    for name in schema.STAGED_KEYS:
        cols = schema.metadata.tables[name].c
        for c in ("first_seen_at", "updated_at", "source"):
            assert c in cols, (name, c)
            assert not cols[c].nullable, (name, c)


def test_migrations_build_exactly_the_metadata(warehouse_url: str) -> None:
    assert migrate.current_revision(wh_engine.make_engine(warehouse_url)) is None
    assert migrate.upgrade(warehouse_url) == migrate.head_revision()
    eng = wh_engine.make_engine(warehouse_url)
    try:
        with eng.connect() as conn:
            assert _diff(conn, schema.metadata) == []
            assert set(sa.inspect(conn).get_table_names()) >= ALL_TABLES
        assert migrate.is_up_to_date(eng)
        # upgrading again is a no-op; down to base and up again works
        assert migrate.upgrade(eng) == migrate.head_revision()
        assert migrate.downgrade(eng, "base") is None
        with eng.connect() as conn:
            assert not ALL_TABLES & set(sa.inspect(conn).get_table_names())
        assert migrate.upgrade(eng) == migrate.head_revision()
    finally:
        eng.dispose()


def test_the_comparison_would_see_a_drift(sqlite_url: str) -> None:
    """Negative control: an extra column in the metadata is reported, so the test above is real."""
    eng = migrated_engine(sqlite_url)
    drifted = sa.MetaData()
    for t in schema.metadata.tables.values():
        t.to_metadata(drifted)
    drifted.tables["stg_payouts"].append_column(sa.Column("extra", sa.Text()))
    with eng.connect() as conn:
        assert any(d[0] == "add_column" for d in _diff(conn, drifted))
    eng.dispose()


def test_sqlite_pragmas_are_set_on_every_connection(sqlite_url: str) -> None:
    eng = wh_engine.make_engine(sqlite_url)
    with eng.connect() as c1, eng.connect() as c2:
        for conn in (c1, c2):
            assert wh_engine.sqlite_pragmas(conn) == {
                "journal_mode": "wal",
                "busy_timeout": "30000",
                "foreign_keys": "1",
                "synchronous": "1",  # NORMAL
            }
    eng.dispose()


def test_sqlite_transactions_are_real(sqlite_url: str) -> None:
    """A rolled-back savepoint and a rolled-back transaction leave nothing (pysqlite quirks fixed)."""
    eng = migrated_engine(sqlite_url)
    t = schema.sync_watermarks
    row = {"value": "1", "updated_at": datetime.now(UTC), "run_id": None}

    def insert_then_fail(conn: sa.Connection, source: str) -> None:
        conn.execute(t.insert().values(source=source, **row))
        raise RuntimeError

    with eng.connect() as conn, conn.begin():
        conn.execute(t.insert().values(source="kept", **row))
        with pytest.raises(RuntimeError), conn.begin_nested():
            insert_then_fail(conn, "rolled-back")
    with pytest.raises(RuntimeError), eng.begin() as conn:
        insert_then_fail(conn, "also-rolled-back")
    with eng.connect() as conn:
        assert [r[0] for r in conn.execute(sa.select(t.c.source))] == ["kept"]
    eng.dispose()


def test_make_engine_urls(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert wh_engine.normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert wh_engine.normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert wh_engine.normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    target = tmp_path / "nested" / "dir" / "w.sqlite"
    monkeypatch.setenv("CFP_WAREHOUSE_URL", f"sqlite:///{target}")
    eng = wh_engine.make_engine()
    assert str(eng.url) == f"sqlite:///{target}"
    assert not target.parent.exists()  # an engine creates nothing: a mistyped path stays unmade
    assert not wh_engine.is_postgres(eng)
    migrate.upgrade(eng)  # creating the warehouse creates its folder
    assert target.is_file()
    eng.dispose()
    monkeypatch.delenv("CFP_WAREHOUSE_URL")
    # No fallback file any more (the demo passes its own): unset is an error naming the setting.
    with pytest.raises(WarehouseNotConfiguredError, match="CFP_WAREHOUSE_URL"):
        wh_engine.default_url()


@pytest.mark.postgres
def test_report_line_tables_carry_brin_indexes_only_beside_their_keys(pg_url: str) -> None:
    """Report files are COPYed into these tables: every btree there is maintained per loaded
    line, so besides the primary keys they get BRIN indexes only, as schema/recon.py declares,
    and migrating down to 0010 gives 0009's btrees back."""
    migrate.upgrade(pg_url)
    eng = wh_engine.make_engine(pg_url)
    sql = sa.text(
        "SELECT indexname, am.amname FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
        "JOIN pg_am am ON am.oid = c.relam WHERE i.tablename LIKE 'stg_financial_action%'"
    )
    try:
        with eng.connect() as conn:
            methods = dict(conn.execute(sql).tuples().all())
        assert methods == {
            "pk_stg_financial_actions": "btree",
            "pk_stg_financial_action_payouts": "btree",
            "ix_stg_financial_actions_updated_at": "brin",
            "ix_stg_financial_action_payouts_updated_at": "brin",
            "ix_stg_financial_action_payouts_payout_id": "brin",
        }
        assert migrate.downgrade(eng, "0010") == "0010"
        with eng.connect() as conn:
            methods = dict(conn.execute(sql).tuples().all())
        assert set(methods.values()) == {"btree"}
        assert "ix_stg_financial_actions_action_id" in methods
    finally:
        eng.dispose()


@pytest.mark.postgres
def test_is_postgres(pg_url: str) -> None:
    eng = wh_engine.make_engine(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    assert eng.dialect.driver == "psycopg"
    with eng.connect() as conn:
        assert wh_engine.is_postgres(conn)
    eng.dispose()


def test_utc_datetime_round_trips_aware_values(warehouse_url: str) -> None:
    eng = migrated_engine(warehouse_url)
    t = schema.sync_watermarks
    cet = timezone(timedelta(hours=1))
    when = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=cet)
    with eng.begin() as conn:
        conn.execute(t.insert().values(source="s", value="v", updated_at=when))
    with eng.connect() as conn:
        got = conn.execute(sa.select(t.c.updated_at)).scalar_one()
    assert got == when
    assert got.tzinfo == UTC
    with pytest.raises(sa.exc.StatementError, match="naive"), eng.begin() as conn:
        conn.execute(t.insert().values(source="n", value="v", updated_at=datetime(2026, 1, 1)))
    eng.dispose()


def test_utc_datetime_type_refuses_non_datetimes() -> None:
    with pytest.raises(TypeError):
        UTCDateTime().process_bind_param("2026-01-01", sa.create_engine("sqlite://").dialect)
