"""A run that dies part-way and is rerun loses nothing and duplicates nothing.

Two ways to die: the API failing mid-run (client retries off, so the step raises between pages),
and the process being killed with SIGKILL while it writes. In both, the rerun must leave the
warehouse row for row equal to one clean run against the same world.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests
import sqlalchemy as sa

from cfp_dev.demo.landed import compare_with_scenario, landed_summary
from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY
from checkout_freshportal.checkout.errors import CheckoutError
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings

from ingest_fixtures import LOAD_BOOKKEEPING, client_for, migrated_engine, snapshot
from waiting import wait_until

# Small pages so a run commits many times and can die between any two of them.
SETTINGS = {"search_page_size": 25, "settle_hours": 0}


def clean_run(sandbox, url: str) -> dict:
    engine = migrated_engine(url)
    ingest.run_all(client_for(sandbox), engine, IngestSettings.from_mapping(SETTINGS), run_id="clean")
    snap = snapshot(engine, drop=LOAD_BOOKKEEPING)
    engine.dispose()
    return snap


def assert_complete(sandbox, engine) -> None:
    scenario = requests.get(f"{sandbox.base_url}/_sandbox/summary", timeout=10).json()
    mismatches = [r for r in compare_with_scenario(scenario, landed_summary(engine)) if not r["ok"]]
    assert mismatches == []


def set_faults(sandbox, **faults) -> None:
    requests.post(f"{sandbox.base_url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()


# Real shapes on SQLite only: landing them on PostgreSQL is test_ingest_real_shapes.py's, and
# a run dying between pages on PostgreSQL is the tidy case's; the product of both adds nothing.
@pytest.mark.parametrize(
    ("warehouse_kind", "sandbox"),
    [("sqlite", "tidy"), ("sqlite", "real"), pytest.param("postgres", "tidy", marks=pytest.mark.postgres)],
    indirect=["sandbox"],
)
def test_api_failures_mid_run_then_rerun(sandbox, warehouse_factory):
    url = warehouse_factory()
    engine = migrated_engine(url)
    settings = IngestSettings.from_mapping(SETTINGS)
    fragile = client_for(sandbox, max_retries=0)

    set_faults(sandbox, fault_500_share=0.08)
    failures = 0
    for attempt in range(20):
        try:
            ingest.run_all(fragile, engine, settings, run_id=f"faulty-{attempt}")
        except CheckoutError:
            failures += 1
            if failures >= 3:
                break
    assert failures >= 1, "the injected faults never interrupted a run"

    set_faults(sandbox, fault_500_share=0.0)
    ingest.run_all(client_for(sandbox), engine, settings, run_id="rerun")
    assert_complete(sandbox, engine)
    assert snapshot(engine, drop=LOAD_BOOKKEEPING) == clean_run(sandbox, warehouse_factory())
    engine.dispose()


def _rows(engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from stg_payments")).scalar_one())
    except sa.exc.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun(sandbox, warehouse_factory):
    url = warehouse_factory()
    engine = migrated_engine(url)
    env = {
        **os.environ,
        "CFP_CHECKOUT_BASE_URL": sandbox.base_url,
        "CFP_CHECKOUT_SECRET_KEY": DEFAULT_SECRET_KEY,
    }
    argv = [sys.executable, "-m", "checkout_freshportal.cli", "ingest", "--url", url]
    argv += ["--settings", json.dumps(SETTINGS)]
    # Slow responses stretch the run so the kill lands in the middle of it, between commits.
    set_faults(sandbox, fault_slow_share=0.3, slow_seconds=0.05)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _rows(engine) > 0 or proc.poll() is not None, 60, "the run's first committed rows")
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    landed_before_rerun = _rows(engine)
    assert landed_before_rerun > 0

    set_faults(sandbox, fault_slow_share=0.0)
    # The rerun in this process (what ``cfp ingest`` calls, with the same settings): a second
    # interpreter start would only prove the CLI again, which test_quarantine_cli.py runs.
    ingest.run_all(client_for(sandbox), engine, IngestSettings.from_mapping(SETTINGS), run_id="rerun")
    assert_complete(sandbox, engine)
    assert snapshot(engine, drop=LOAD_BOOKKEEPING) == clean_run(sandbox, warehouse_factory())
    engine.dispose()
