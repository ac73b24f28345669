"""The staging benchmark runs end to end at a tiny size (numbers are not asserted, only sanity)."""

from __future__ import annotations

import argparse

import pytest

from . import bench_report_staging, run


@pytest.mark.postgres
def test_report_staging_benchmark_runs(pg_server_url: str) -> None:
    args = argparse.Namespace(quick=True, lines=3000, repeat=1, method=None)
    result = bench_report_staging.run(args)
    assert result["lines"] == 3000
    assert set(result["rows_per_second"]) == {"a", "b", "c"}
    assert result["runs"][0]["c_result"]["payouts_assigned"] > 0
    assert result["peak_rss_bytes"]["b_peak_rss"] > 0
    assert [r["phase"][:3] for r in result["table"]] == ["(a)", "(b)", "(c)"]


def test_harness_discovers_and_filters() -> None:
    assert "report_staging" in run.discover()
    assert run.main(["--only", "nope", "--no-save"]) == 2


@pytest.mark.postgres
def test_refunds_benchmark_runs(pg_server_url: str) -> None:
    """Sanity only: every request was executed and each cost at least one read and one write."""
    from . import bench_refunds

    result = bench_refunds._one_run(40)
    assert result["accepted"] == 40
    assert result["writes_per_refund"] >= 1.0
    assert result["reads_per_refund"] >= 1.0
    assert result["refunds_per_s"] > 0
