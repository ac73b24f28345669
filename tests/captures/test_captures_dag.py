"""``freshportal_captures`` end to end through Airflow (``dag.test``), and its shape.

Both simulators run for real; the DAG builds its clients from Connections given as environment
variables, exactly as a deployment would. Outcomes come from the payment's actions here (no
webhook receiver), which is the path a lost webhook takes.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from cap_fixtures import MANUAL, World

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY
from checkout_freshportal.sync.intents import store

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

_DATES = (datetime(2026, 4, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())
FAST = {"manual_capture_channels": [MANUAL], "in_doubt_after_seconds": 0, "outcome_timeout_seconds": 0}


def run_dag(dag, settings=None):
    return dag.test(run_conf={"settings": settings or FAST}, logical_date=next(_DATES))


def _states(dag_run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}


@pytest.fixture
def wired(world: World, migrated_warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKOUT_DEFAULT",
        json.dumps({"conn_type": "checkout", "host": world.cko_sb.base_url, "password": DEFAULT_SECRET_KEY}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT",
        json.dumps(
            {"conn_type": "freshportal", "host": world.fp_sb.base_url, "password": world.fp_sb.api_key}
        ),
    )
    monkeypatch.setenv("CFP_WAREHOUSE_URL", migrated_warehouse_url)
    return world


def test_dag_shape(dagbag) -> None:
    dag = dagbag.dags["freshportal_captures"]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    order = ["pull_releases", "execute_captures", "resolve_outcomes", "write_back_notes"]
    for up, down in itertools.pairwise(order):
        assert dag.get_task(down).upstream_task_ids == {up}
    # The money steps never wait on the feed or on one stuck release ...
    for task_id in order[1:]:
        assert dag.get_task(task_id).trigger_rule == "all_done"
    # ... and a failed step still fails the run: the only leaf is the watcher.
    assert {t.task_id for t in dag.leaves} == {"fail_if_a_step_failed"}
    watcher = dag.get_task("fail_if_a_step_failed")
    assert watcher.trigger_rule == "one_failed"
    assert watcher.upstream_task_ids == set(order)
    assert set(dag.params.keys()) == {"settings"}


def test_dag_captures_once_notes_every_outcome_and_a_rerun_sends_nothing(dagbag, wired: World) -> None:
    w = wired
    pay = w.authorise("FP-400001", 10_000)
    lapsed = w.authorise("FP-400002", 10_000)
    w.cko_admin("POST", f"/payments/{lapsed}/expire")
    part = w.release("FP-400001", 6_000, complete=False)
    rest = w.release("FP-400001", 4_000, complete=True)
    gone = w.release("FP-400002", 10_000, complete=True)
    dag = dagbag.dags["freshportal_captures"]
    for _ in range(2):  # accepted -> outcome from the actions -> noted
        run = run_dag(dag)
        assert run.state == "success", _states(run)
    intents = w.intents()
    assert intents[f"release:{part}"]["state"] == store.SUCCEEDED
    assert intents[f"release:{rest}"]["state"] == store.SUCCEEDED
    assert intents[f"release:{gone}"]["reason_code"] == "authorization_expired"
    assert sorted(c["amount"] for c in w.captures(pay)) == [4_000, 6_000]
    assert w.captures(lapsed) == []
    assert len(w.notes("FP-400001")) == 2
    assert [n.external_ref for n in w.notes("FP-400002")] == [f"cfp-capture:{gone}:failed"]
    again = run_dag(dag)
    assert again.state == "success", _states(again)
    assert len(w.captures(pay)) == 2
    assert len(w.notes("FP-400001")) == 2
