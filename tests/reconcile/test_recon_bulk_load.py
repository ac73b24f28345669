"""A big first load into an empty kept table (sqlbits.indexes_rebuilt): its keys and indexes are
dropped for the load and built afterwards, and every way that can go wrong leaves the table as
the migrations made it. PostgreSQL's alone: on SQLite the helper does nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from checkout_freshportal.reconcile import sqlbits

_TABLE = sa.Table(
    "bulk_probe",
    sa.MetaData(),
    sa.Column("k", sa.Text(), primary_key=True),
    sa.Column("v", sa.Text()),
    sa.Column("flag", sa.Boolean()),
)
_SETUP = (
    "CREATE TABLE bulk_probe (k text CONSTRAINT pk_bulk_probe PRIMARY KEY, v text, flag boolean)",
    "CREATE INDEX ix_bulk_probe_v ON bulk_probe (v)",
    "CREATE INDEX ix_bulk_probe_flagged ON bulk_probe (v) WHERE flag",
)
_INDEXES = sa.text(
    "SELECT c.relname, i.indexrelid::bigint, pg_get_indexdef(i.indexrelid) FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'bulk_probe'::regclass"
)


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    # a drop that waits for a lock would hang the test: it fails instead
    eng = sa.create_engine(pg_url, connect_args={"options": "-c lock_timeout=10s"})
    with eng.begin() as conn:
        for stmt in _SETUP:
            conn.exec_driver_sql(stmt)
    try:
        yield eng
    finally:
        eng.dispose()


def _indexes(conn: sa.Connection) -> dict[str, tuple[int, str]]:
    return {name: (oid, definition) for name, oid, definition in conn.execute(_INDEXES)}


def _load(conn: sa.Connection, keys: list[str]) -> None:
    rows = sa.select(
        sa.func.unnest(sa.literal(keys, sa.ARRAY(sa.Text()))).label("k"),
        sa.literal("v").label("v"),
        sa.literal(False).label("flag"),
    )
    sqlbits.fill(conn, _TABLE, rows)


def test_a_load_builds_the_key_and_plain_indexes_again_and_leaves_partial_ones(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        before = _indexes(conn)
    with engine.begin() as conn, sqlbits.indexes_rebuilt(conn, _TABLE, when=True):
        _load(conn, ["a", "b", "c"])
    with engine.connect() as conn:
        after = _indexes(conn)
        assert sqlbits.count(conn, _TABLE) == 3
    assert {n: d for n, (_, d) in after.items()} == {n: d for n, (_, d) in before.items()}
    changed = {n for n in before if after[n][0] != before[n][0]}
    assert changed == {"pk_bulk_probe", "ix_bulk_probe_v"}  # the partial index stayed


def test_a_duplicate_key_fails_the_load_and_the_rollback_restores_the_key(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        before = _indexes(conn)
    with (
        pytest.raises(sa.exc.IntegrityError),
        engine.begin() as conn,
        sqlbits.indexes_rebuilt(conn, _TABLE, when=True),
    ):
        _load(conn, ["a", "a"])
    with engine.connect() as conn:
        assert _indexes(conn) == before
        assert sqlbits.count(conn, _TABLE) == 0
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _load(conn, ["x", "x"])  # the primary key is back and enforced


def test_a_table_another_session_holds_is_loaded_with_its_indexes(engine: sa.Engine) -> None:
    """The drops would queue behind the other session (and every reader behind the drops): the
    load goes into the indexed table instead, without waiting."""
    with engine.connect() as conn:
        before = _indexes(conn)
    with engine.connect() as reader:
        reader.execute(sa.select(sa.func.count()).select_from(_TABLE))  # ACCESS SHARE until it ends
        with engine.begin() as conn, sqlbits.indexes_rebuilt(conn, _TABLE, when=True):
            _load(conn, ["a", "b"])
        reader.rollback()
    with engine.connect() as conn:
        assert _indexes(conn) == before  # nothing was dropped
        assert sqlbits.count(conn, _TABLE) == 2


def test_only_a_big_load_counts_as_bulk(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        small = sa.select(sa.func.generate_series(1, 10).label("k"))
        big = sa.select(sa.func.generate_series(1, 10 * sqlbits.BULK_LOAD_ROWS).label("k"))
        assert not sqlbits.expects_bulk(conn, small)
        assert sqlbits.expects_bulk(conn, big)
