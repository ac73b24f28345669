"""``checkout_ingest`` end to end through Airflow (``dag.test``) against the sandbox.

The landing test runs on SQLite and on PostgreSQL: everything the scenario holds lands (counts and
money per currency), and a second run changes nothing, row for row. The backfill and the 4xx tests
run on SQLite only: what differs between the engines (the writes, their idempotence, the watermark
rows) is what the landing test proves on both, and the 4xx run fails before its first write.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cfp_dev.demo.landed import compare_with_scenario, landed_summary
from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY

from ingest_fixtures import migrated_engine, snapshot

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

CONF = {"settings": {"settle_hours": 0}}

# dag.test keeps a run's conf in the DAG object's params for later calls, and reuses a run whose
# logical date it has seen: every run states all params and gets a date of its own.
_DATES = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())


def run_dag(dag, conf):
    return dag.test(run_conf={"from": None, "to": None, "settings": {}, **conf}, logical_date=next(_DATES))


@pytest.fixture
def wired(sandbox, migrated_warehouse_url, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKOUT_DEFAULT",
        json.dumps({"conn_type": "checkout", "host": sandbox.base_url, "password": DEFAULT_SECRET_KEY}),
    )
    monkeypatch.setenv("CFP_WAREHOUSE_URL", migrated_warehouse_url)
    return sandbox, migrated_engine(migrated_warehouse_url)


def _task_results(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_dag_lands_the_scenario_and_a_second_run_changes_nothing(dagbag, wired):
    sandbox, engine = wired
    dag = dagbag.dags["checkout_ingest"]

    first = run_dag(dag, CONF)
    assert first.state == "success", _task_results(first)

    scenario = requests.get(f"{sandbox.base_url}/_sandbox/summary", timeout=10).json()
    rows = compare_with_scenario(scenario, landed_summary(engine))
    assert [r for r in rows if not r["ok"]] == []
    assert scenario["counts"]["payments"] > 200
    assert len({r["what"].split()[-1] for r in rows if r["what"].startswith("captured")}) >= 5

    before = snapshot(engine)
    second = run_dag(dag, CONF)
    assert second.state == "success", _task_results(second)
    assert snapshot(engine) == before
    engine.dispose()


@pytest.mark.parametrize("warehouse_kind", ["sqlite"])
def test_backfill_run_leaves_watermarks_alone(dagbag, wired):
    _, engine = wired
    dag = dagbag.dags["checkout_ingest"]
    assert run_dag(dag, CONF).state == "success"
    with engine.connect() as conn:
        marks = dict(conn.exec_driver_sql("select source, value from sync_watermarks").all())
    expected = {
        "checkout.payments.requested_on",
        "checkout.disputes.last_update",
        "checkout.reports.created_on",
    }
    assert expected <= set(marks)

    before = snapshot(engine)
    backfill = run_dag(dag, {"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z", **CONF})
    assert backfill.state == "success", _task_results(backfill)
    with engine.connect() as conn:
        assert dict(conn.exec_driver_sql("select source, value from sync_watermarks").all()) == marks
    assert snapshot(engine) == before  # the range was fully loaded already: nothing to change
    engine.dispose()


@pytest.mark.parametrize("warehouse_kind", ["sqlite"])
def test_an_unexpected_4xx_fails_the_task_at_once_with_the_request_id(dagbag, wired, monkeypatch, capfd):
    sandbox, _ = wired
    wrong_key = "sk_sbox_" + "a" * 26 + "b"  # well-formed, but not a key of this account
    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKOUT_DEFAULT",
        json.dumps({"conn_type": "checkout", "host": sandbox.base_url, "password": wrong_key}),
    )
    run = run_dag(dagbag.dags["checkout_ingest"], CONF)
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["ingest_payments"].state == "failed"
    assert tis["ingest_payments"].try_number == 1  # the retry policy refused to retry a 401
    assert tis["refresh_referenced_payments"].state == "upstream_failed"
    out, err = capfd.readouterr()
    logged = out + err  # the task runner logs the failure through structlog to stderr
    print(logged[-4000:])
    assert "AuthenticationError" in logged
    assert "request_id" in logged
    assert wrong_key not in logged
