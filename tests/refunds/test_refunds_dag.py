"""``freshportal_refunds`` end to end through Airflow (``dag.test``) on SQLite.

Both simulators run for real; the DAG builds its clients from Connections given as environment
variables, exactly as a deployment would. Outcomes come from the payment's actions here (no
webhook receiver), which is the path a lost webhook takes.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from refunds_fixtures import RefundWorld, executed

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

_DATES = (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())
FAST = {"in_doubt_after_seconds": 0, "outcome_timeout_seconds": 0}


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
