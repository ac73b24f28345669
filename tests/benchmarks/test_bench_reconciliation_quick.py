"""The reconciliation benchmark at a tiny size: its generator plants exactly what it says, the
engine finds exactly that (full, incremental after the 1 % change, full again), and both engines
hold the same data. Figures are not asserted (no timing in tests), only that they were measured."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from checkout_freshportal.warehouse import make_engine, upgrade

from . import bench_reconciliation, gen_reconciliation, recon_floor, run

ORDERS = 2000


def test_reconciliation_benchmark_runs_on_sqlite() -> None:
    args = argparse.Namespace(quick=True, orders=ORDERS, repeat=1, engines=["sqlite"], skip_quality=True)
    result = bench_reconciliation.run(args)
    r = result["results"]["sqlite"]
    assert r["generate"]["rows"]["stg_orders"] == ORDERS
    assert r["generate"]["rows"]["stg_payments"] > ORDERS
    # exactly the planted exceptions, before and after the 1 % change, incremental == full
    assert r["full"]["open_by_kind"] == gen_reconciliation.expected_exceptions(ORDERS)
    assert r["incremental"]["mode"] == "incremental"
    after = gen_reconciliation.expected_exceptions(ORDERS, touched=True)
    assert r["incremental"]["open_by_kind"] == after
    assert r["full_after"]["open_by_kind"] == after
    assert result["goals"]["sqlite"]["incremental_equals_full"] is True
    assert r["touch"]["rows"]["stg_orders"] == ORDERS // 100
    assert r["full"]["worker_peak_rss"] > 0
    assert r["full"]["worker_cpu_seconds"] > 0  # the run's CPU is measured beside its wall time
    if Path("/proc/stat").exists():
        assert 0 < r["full"]["host_busy_core_seconds"] <= r["full"]["host_core_seconds"]
    assert r["full"]["statements"] > 0
    assert [row["phase"] for row in result["table"]][:2] == ["generate", "(a) bare join"]
    assert "floor" not in r  # PostgreSQL only (recon_floor)
    assert "reconciliation" in run.discover()


def _digest(url: str) -> dict[str, tuple[object, ...]]:
    """Per table: row count and sums/extremes of its money and key columns (engine-neutral)."""
    queries = {
        "stg_orders": "count(*), sum(amount_minor), min(order_number), max(currency), sum(line_count)",
        "stg_payments": "count(*), sum(amount_minor), sum(total_captured_minor), sum(total_refunded_minor), "
        "max(reference), count(metadata)",
        "stg_payment_actions": "count(*), sum(amount_minor), max(action_id)",
        "stg_financial_actions": "count(*), sum(holding_amount_e8), sum(holding_amount_minor), "
        "max(replace(CAST(line_key AS TEXT), '-', ''))",  # a UUID on PostgreSQL, 32 hex digits on SQLite
        "stg_financial_action_payouts": "count(*), max(payout_id)",
        "stg_payouts": "count(*), sum(payout_amount_e8), sum(payout_amount_minor)",
        "stg_refund_requests": "count(*), sum(amount_minor)",
        "stg_payment_status": "count(*), max(freshportal_status)",
    }
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: tuple(str(v) for v in conn.execute(sa.text(f"SELECT {q} FROM {t}")).one())
                for t, q in queries.items()
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_generator_writes_the_same_data_on_both_engines(migrated_pg_url: str, tmp_path: Path) -> None:
    as_of = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    lite = f"sqlite:///{tmp_path}/w.db"
    upgrade(lite)
    for url in (migrated_pg_url, lite):
        engine = make_engine(url)
        try:
            gen_reconciliation.generate(engine, ORDERS, as_of)
        finally:
            engine.dispose()
    assert _digest(migrated_pg_url) == _digest(lite)
    # the two PostgreSQL baselines (default plan, no parallel workers) join the same rows
    engine = make_engine(migrated_pg_url)
    try:
        _, default_row = bench_reconciliation._bare_join(engine, 1)
        _, serial_row = bench_reconciliation._bare_join(engine, 1, serial=True)
        floor = recon_floor.measure(engine, as_of, 1)
        floor_serial = recon_floor.measure(engine, as_of, 1, serial=True)
    finally:
        engine.dispose()
    assert serial_row == default_row
    # the rules' minimum reads, with and without parallel workers, read the same rows
    for name in ("order_money", "payout_lines", "unsettled", "orphans"):
        assert floor_serial[name]["result"] == floor[name]["result"], name
    assert int(default_row[0]) > ORDERS


def test_the_lower_bound_reads_what_the_rules_read(tmp_path: Path) -> None:
    """recon_floor's four reads on the generator's data: the planted unsettled captures exactly,
    at least the planted orphans (it leaves R3 out, which ties a few more payments to orders),
    every order once. Portable SQL: checked here on SQLite, measured on PostgreSQL."""
    as_of = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    url = f"sqlite:///{tmp_path}/w.db"
    upgrade(url)
    engine = make_engine(url)
    try:
        gen_reconciliation.generate(engine, ORDERS, as_of)
        floor = recon_floor.measure(engine, as_of, 1)
    finally:
        engine.dispose()
    expected = gen_reconciliation.expected_exceptions(ORDERS)
    assert floor["unsettled"]["result"] == [(str(expected["unsettled_capture"]),)]
    assert int(floor["orphans"]["result"][0][0]) >= expected["orphan_payment"]
    assert sum(int(row[1]) for row in floor["order_money"]["result"]) == ORDERS
    assert floor["payout_lines"]["result"] != [("0",)]
    assert floor["sum_of_medians"] > 0


def test_planted_layout_needs_enough_orders() -> None:
    with pytest.raises(ValueError, match="too few orders"):
        gen_reconciliation.planted_orders(500)
