"""The work a full run does beside its own transaction on PostgreSQL (reconcile/inputs.py), and
runs taking turns (service._one_run_at_a_time). PostgreSQL's alone: SQLite does that work inline
and serialises runs with its writer lock."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from recon_builders import T, World, exceptions, reconcile

from checkout_freshportal.reconcile import inputs
from checkout_freshportal.warehouse import locks, schema

DAY = timedelta(days=1)


def _plant(w: World) -> None:
    """A status drift and an unsettled capture (both found beside), and a clean order."""
    w.paid_order("o1", payment_status="pending")
    w.payment_status("pay_o1", "o1", "paid", at=T - timedelta(hours=3))
    w.paid_order("o2")
    w.action("act_c2", "pay_o2", "Capture", processed_on=T - 9 * DAY)  # no line, no payout
    w.paid_order("o3")


def _open(w: World) -> dict[str, tuple[Any, ...]]:
    rows = exceptions(w.engine, status="open")
    return {k: (r["order_id"], r["order_number"], r["payment_id"], r["detail"]) for k, r in rows.items()}


def test_rows_found_beside_equal_rows_the_run_finds_itself(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no row allowed back through Python (``MAX_ROWS_BACK = 0``) the run finds the drift
    and the unsettled capture on its own connection; the rows found beside are the same, and the
    order naming the capture's payment is added to them afterwards all the same."""
    _plant(pg_world)
    monkeypatch.setattr(inputs, "MAX_ROWS_BACK", 0)
    reconcile(pg_world.engine, "r1", full=True)
    inline = _open(pg_world)
    assert set(inline) == {"status_drift:order:o1", "unsettled_capture:action:act_c2"}
    assert inline["unsettled_capture:action:act_c2"][:3] == ("o2", "ORD-o2", "pay_o2")
    monkeypatch.undo()
    beside = reconcile(pg_world.engine, "r2", T + timedelta(hours=1), full=True)
    assert (beside.opened, beside.resolved, beside.reopened) == (0, 0, 0)
    assert _open(pg_world) == inline


def test_a_failing_side_job_fails_the_run_and_keeps_nothing(
    pg_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(pg_world)
    jobs = inputs._side_jobs()

    def boom(_side: Any) -> None:
        raise RuntimeError("side job broke")

    monkeypatch.setattr(inputs, "_side_jobs", lambda: [*jobs, ("boom", boom)])
    with pytest.raises(RuntimeError, match="side job broke"):
        reconcile(pg_world.engine, "r1", full=True)
    runs = schema.recon_runs
    with pg_world.engine.connect() as conn:
        row = conn.execute(sa.select(runs.c.status, runs.c.error).where(runs.c.run_id == "r1")).one()
        matches = conn.execute(sa.select(sa.func.count()).select_from(schema.recon_matches)).scalar()
    assert row.status == "failed"
    assert "side job broke" in row.error
    assert (exceptions(pg_world.engine), matches) == ({}, 0)


def test_runs_take_turns(pg_world: World) -> None:
    """A second run waits for the one holding the turn (here: the test holds it) before it even
    chooses its mode, then runs normally."""
    pg_world.order("o1")
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reconcile(pg_world.engine, "r1", full=True)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            done.set()

    with pg_world.engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": locks.RECONCILIATION})
        holder.commit()
        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(1.5)
        assert not done.is_set()
        with pg_world.engine.connect() as conn:
            runs = schema.recon_runs
            assert conn.execute(sa.select(runs.c.run_id)).all() == []  # not even started
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": locks.RECONCILIATION})
        holder.commit()
    worker.join(timeout=60)
    assert done.is_set()
    assert errors == []
    assert set(exceptions(pg_world.engine)) == {"missing_payment:order:o1"}
