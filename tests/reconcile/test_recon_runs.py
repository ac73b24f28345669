"""The run's own row: a retried or cleared task (same Airflow run id) starts over instead of
failing on the primary key, and a run never goes back in time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from recon_builders import T, World, open_keys, reconcile

from checkout_freshportal.warehouse import schema


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
