"""The run's own row: a retried or cleared task (same Airflow run id) starts over instead of
failing on the primary key, and a run never goes back in time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from recon_builders import T, World, open_keys, reconcile

from checkout_freshportal.reconcile import sqlbits
from checkout_freshportal.warehouse import engine as wh_engine
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.schema.recon import (
    recon_order_facts,
    recon_order_invoices,
    recon_paid_out_actions,
)


def _run_row(engine: sa.Engine, run_id: str) -> sa.RowMapping:
    with engine.connect() as conn:
        r = schema.recon_runs
        return conn.execute(sa.select(r).where(r.c.run_id == run_id)).mappings().one()


def test_a_retried_run_starts_over_with_its_run_id(world: World) -> None:
    world.order("o1", 1000)  # confirmed 10 days ago, nothing paid: missing_payment
    first = reconcile(world.engine, "manual__1", T)
    assert first.opened == 1
    with world.engine.begin() as conn:  # the attempt was killed mid-run: its row stayed "running"
        conn.execute(
            schema.recon_runs.update()
            .where(schema.recon_runs.c.run_id == "manual__1")
            .values(status="running", finished_at=None, report_path="/old")
        )
    world.payment("p1", 1000, reference="ORD-o1")
    again = reconcile(world.engine, "manual__1", T + timedelta(hours=1))
    row = _run_row(world.engine, "manual__1")
    assert (row["status"], row["as_of"], row["report_path"]) == ("succeeded", T + timedelta(hours=1), None)
    assert again.resolved == 1
    assert open_keys(world.engine) == set()
    with world.engine.connect() as conn:
        totals = conn.execute(
            sa.select(sa.func.count()).where(schema.recon_run_totals.c.run_id == "manual__1")
        ).scalar_one()
    assert totals == 1  # EUR, written once


def test_a_run_before_the_last_one_is_refused(world: World) -> None:
    world.order("o1", 1000)
    reconcile(world.engine, "r1", T)
    with pytest.raises(ValueError, match="before the last succeeded run"):
        reconcile(world.engine, "r0", T - timedelta(minutes=1))
    with world.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).where(schema.recon_runs.c.run_id == "r0")).scalar_one()
            == 0
        )


def _watermark_of(engine: sa.Engine, run_id: str) -> object:
    return _run_row(engine, run_id)["inputs_watermark"]


def test_an_incremental_run_keeps_the_newest_stamp_as_its_watermark(world: World) -> None:
    """The incremental run asks each input only for stamps after its ``since`` (the last
    watermark); the watermark must still be the newest stamp of all inputs, and with nothing
    stamped since (here: the newer row gone) it stays where the last run left it, never going
    back (a row stamped before it was read by that run)."""
    world.order("o1", 1000)
    first = reconcile(world.engine, "r1", T)
    assert first.mode == "full"
    assert _watermark_of(world.engine, "r1") == world.stamp
    world.stamp = T - timedelta(days=1)
    world.payment("p1", 1000, reference="ORD-o1")
    again = reconcile(world.engine, "r2", T + timedelta(hours=1))
    assert again.mode == "incremental"
    assert _watermark_of(world.engine, "r2") == T - timedelta(days=1)
    with world.engine.begin() as conn:  # the only row stamped at r2's watermark goes away
        conn.execute(schema.stg_payments.delete())
    third = reconcile(world.engine, "r3", T + timedelta(hours=2))
    assert third.mode == "incremental"
    assert _watermark_of(world.engine, "r3") == T - timedelta(days=1)
    world.stamp = T - timedelta(hours=12)
    world.order("o2", 500)  # a newer stamp moves it on
    assert reconcile(world.engine, "r4", T + timedelta(hours=3)).mode == "incremental"
    assert _watermark_of(world.engine, "r4") == T - timedelta(hours=12)


def test_a_run_that_rewrote_its_kept_tables_leaves_fresh_statistics(migrated_pg_url: str) -> None:
    """PostgreSQL plans the next incremental run's index probes from these statistics (a table
    never analysed is estimated at a fraction of its rows joining, and scanned); SQLite's
    planner keeps none of this, so the test is PostgreSQL's alone."""
    engine = wh_engine.make_engine(migrated_pg_url)
    try:
        _check_fresh_statistics(World(engine))
    finally:
        engine.dispose()


def _check_fresh_statistics(world: World) -> None:
    for i in range(30):
        world.order(f"o{i}", 1000 + i)
        world.payment(f"p{i}", 1000 + i, reference=f"ORD-o{i}")
    reconcile(world.engine, "r1", T)

    reltuples = sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)")

    def stats() -> dict[str, tuple[float, int]]:
        with world.engine.connect() as conn:
            return {
                t.name: (
                    conn.execute(reltuples, {"t": t.name}).scalar_one(),
                    conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one(),
                )
                for t in (schema.recon_matches, recon_order_facts)
            }

    after_full = stats()
    assert after_full == {"recon_matches": (30.0, 30), "recon_order_facts": (30.0, 30)}
    world.stamp = T - timedelta(days=1)
    world.payment("p_extra", 5, reference="ORD-o1")  # one more match: 1 row of 31, not analysed again
    reconcile(world.engine, "r2", T + timedelta(hours=1))
    assert stats()["recon_matches"] == (30.0, 31)


def test_a_first_run_builds_the_indexes_after_the_load_and_keeps_every_index(
    migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run loads the empty kept tables bare (primary keys and plain indexes dropped) and
    builds them afterwards from their own definitions: each is a new object after the run, with
    the same definition, and answers (an incremental run's lookups use them); partial indexes
    stay as they are. A later run, with rows stored, leaves every index alone (a locking DROP
    would block readers of those rows). The bulk threshold is lowered so a few rows count."""
    monkeypatch.setattr(sqlbits, "BULK_LOAD_ROWS", 1)
    engine = wh_engine.make_engine(migrated_pg_url)
    tables = "('recon_matches', 'recon_order_facts', 'recon_order_invoices', 'recon_paid_out_actions')"
    defs = sa.text(f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN {tables}")
    keys = sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid IN (SELECT oid FROM pg_class WHERE relname IN {tables})"
    )
    oids = sa.text(
        "SELECT CAST(CAST(i.indexrelid AS regclass) AS text), i.indexrelid::bigint, i.indpred IS NOT NULL "
        f"FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname IN {tables}"
    )
    try:
        with engine.connect() as conn:
            before: dict[str, str] = dict(conn.execute(defs).all())
            before_keys: dict[str, str] = dict(conn.execute(keys).all())
            before_oids = {name: (oid, partial) for name, oid, partial in conn.execute(oids)}
        assert {"ix_recon_matches_payment_id", "pk_recon_matches", "pk_recon_order_facts"} <= set(before)
        assert {"pk_recon_paid_out_actions", "pk_recon_order_invoices"} <= set(before_keys)
        world = World(engine)
        for i in range(5):
            world.order(f"o{i}", invoices=[f"INV-{i}"])
            world.payment(f"p{i}", reference=f"ORD-o{i}")
            world.line(f"act_{i}", f"p{i}", 1000_000000, payout="po_1")
        world.payout("po_1", 5000)
        reconcile(engine, "r1", T, full=True)
        with engine.connect() as conn:
            assert dict(conn.execute(defs).all()) == before
            assert dict(conn.execute(keys).all()) == before_keys
            after = {name: oid for name, oid, _ in conn.execute(oids)}
            for table in (
                schema.recon_matches,
                recon_order_facts,
                recon_order_invoices,
                recon_paid_out_actions,
            ):
                assert sqlbits.count(conn, table) == 5, table.name
        assert set(after) == set(before_oids)
        rebuilt = {name for name, (oid, _) in before_oids.items() if after[name] != oid}
        assert rebuilt == {name for name, (_, partial) in before_oids.items() if not partial}
        world.order("o9")  # a new match for the second run to insert beside the stored ones
        world.payment("p9", reference="ORD-o9")
        reconcile(engine, "r2", T + timedelta(hours=1), full=True)
        with engine.connect() as conn:
            # the same index objects: the second full run did not drop and create them again
            assert {name: oid for name, oid, _ in conn.execute(oids)} == after
            rm = schema.recon_matches
            hits = [
                conn.execute(sa.select(rm.c.order_id).where(rm.c.payment_id == p)).scalar()
                for p in ("p3", "p9")
            ]
        assert hits == ["o3", "o9"]
    finally:
        engine.dispose()
