"""``freshportal_refunds`` end to end through Airflow (``dag.test``) on SQLite.

Both simulators run for real; the DAG builds its clients from Connections given as environment
variables, exactly as a deployment would. Outcomes come from the payment's actions here (no
webhook receiver), which is the path a lost webhook takes.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from refunds_fixtures import RefundWorld, executed

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

_DATES = (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())
FAST = {"in_doubt_after_seconds": 0, "outcome_timeout_seconds": 0}
SCRIPT = Path(__file__).resolve().parent / "concurrent_dag_run.py"


def run_dag(dag, settings=None):
    return dag.test(run_conf={"settings": settings or FAST}, logical_date=next(_DATES))


def _states(dag_run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}


@pytest.fixture
def wired(refund_world: RefundWorld, migrated_warehouse_url: str, monkeypatch: pytest.MonkeyPatch):
    w = refund_world
    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKOUT_DEFAULT",
        json.dumps({"conn_type": "checkout", "host": w.cko_sb.base_url, "password": DEFAULT_SECRET_KEY}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT",
        json.dumps({"conn_type": "freshportal", "host": w.fp_sb.base_url, "password": w.fp_sb.api_key}),
    )
    monkeypatch.setenv("CFP_WAREHOUSE_URL", migrated_warehouse_url)
    return w


def test_dag_refunds_once_answers_every_request_and_a_rerun_sends_nothing(dagbag, wired: RefundWorld):
    w = wired
    w.pay("FP-400001", 10000)
    w.pay("FP-400006", 8000, capture=False)
    w.settle()
    ok = w.request_refund("FP-400001", 2500)
    rejected = w.request_refund("FP-400006", 1000)
    dag = dagbag.dags["freshportal_refunds"]
    for _ in range(3):  # accepted -> outcome from the actions -> answered
        run = run_dag(dag)
        assert run.state == "success", _states(run)
        w.settle()
    fp = w.fp_requests()
    assert fp[ok]["status"] == "refunded"
    assert fp[ok]["outcome"]["refunded_amount"] is not None
    assert fp[rejected]["status"] == "failed"
    assert fp[rejected]["outcome"]["failure_reason"].startswith("payment_not_captured: ")
    assert executed(w) == {"FP-400001": 1, "FP-400006": 0}
    again = run_dag(dag)
    assert again.state == "success", _states(again)
    assert executed(w) == {"FP-400001": 1, "FP-400006": 0}


@pytest.mark.parametrize("warehouse_kind", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_dag_runs_started_at_the_same_moment_refund_each_request_once(
    airflow_db: str, wired: RefundWorld, tmp_path: Path
) -> None:
    """Two processes, each running the whole DAG (its own Airflow home), released together on
    one PostgreSQL warehouse. ``in_doubt_after`` is 0, so each run also tries to "recover" what
    the other is sending at that moment: the claims and the idempotency key must hold."""
    w = wired
    numbers = ["FP-400001", "FP-400002", "FP-400005", "FP-400008"]
    for n in numbers:
        w.pay(n, 4000)
    w.settle()
    for n in numbers:
        w.request_refund(n, 1000)
        w.request_refund(n, 700, reason="second")
    go = tmp_path / "go"
    procs = []
    for i in range(2):
        home = tmp_path / f"airflow-{i}"
        shutil.copytree(airflow_db, home)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
        argv = [sys.executable, str(SCRIPT), str(tmp_path / f"ready-{i}"), str(go), str(i), json.dumps(FAST)]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "the DAG runs never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate()[0][-3000:] for p in procs]
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
    for _ in range(3):  # the outcomes that arrived after the two runs
        w.settle()
        w.run()
    assert executed(w) == {n: 2 for n in numbers}
    assert {i["state"] for i in w.intents().values()} == {"succeeded"}


def test_a_refused_refund_fails_the_run_after_every_step_ran(dagbag, wired: RefundWorld):
    """Checkout.com refuses one refund: execute fails (no retry), resolve and write-back still
    run, the refusal is answered in FreshPortal, the others are served, and the run is failed
    (the watcher leaf), so an operator sees it."""
    w = wired
    refused_pid = w.pay("FP-400001", 10000)
    w.pay("FP-400002", 5000)
    w.settle()
    r = requests.post(
        f"{w.cko_sb.base_url}/_sandbox/declines",
        json={"type": "refund", "payment_id": refused_pid, "http_status": 422},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    refused = w.request_refund("FP-400001", 1000)
    served = w.request_refund("FP-400002", 1000)
    run = run_dag(dagbag.dags["freshportal_refunds"])
    states = _states(run)
    assert run.state == "failed", states
    assert states["execute_refunds"] == ("failed", 1)  # permanent: not retried
    assert states["resolve_outcomes"][0] == "success"
    assert states["write_back_outcomes"][0] == "success"
    assert states["fail_if_a_step_failed"][0] == "failed"
    fp = w.fp_requests()
    assert fp[refused]["status"] == "failed"
    assert fp[refused]["outcome"]["failure_reason"].startswith("refused_by_checkout: ")
    assert w.intents()[served]["action_id"]
    after = run_dag(dagbag.dags["freshportal_refunds"])  # nothing refused any more
    assert after.state == "success", _states(after)
    assert _states(after)["fail_if_a_step_failed"][0] == "skipped"
