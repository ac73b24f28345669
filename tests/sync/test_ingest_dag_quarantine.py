"""Through Airflow: a poisoned payment lands nothing of itself, everything else lands, and the run
fails at ``check_quarantine`` at once (permanent: no retry), naming the payment.

Also, without Airflow's runner: the task body raises an error Airflow's retry policy refuses to
retry, and returns the figures (parked items included) when nothing new failed.
"""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from airflow.sdk import RetryAction
from test_ingest_dag import CONF, run_dag, wired  # noqa: F401  (fixture)

from checkout_freshportal.sync.ingest.quarantine import (
    QuarantinedItemsError,
    QuarantineTally,
    UnfinishedStepsError,
)
from checkout_freshportal.timeutil import parse_ts

from dag_policies import no_retry_on_permanent_errors
from ingest_fixtures import client_for


def _item(source: str, item_id: str) -> dict:
    return {
        "source": source,
        "item_id": item_id,
        "reason": "MappingError: x",
        "state": "quarantined",
        "attempts": 1,
    }


def test_the_task_body_fails_permanently_naming_the_items() -> None:
    from ingest_tasks import check_quarantine

    many = QuarantineTally(new=[_item("checkout.payments", f"pay_{i}") for i in range(25)])
    results = {"ingest_payments": {"quarantine": many.__dict__}, "ingest_disputes": None}
    with pytest.raises(QuarantinedItemsError) as caught:
        check_quarantine(results)
    text = str(caught.value)
    assert text.startswith("25 item(s) could not be read and are quarantined (25 new, 0 failed again)")
    assert "pay_19 [quarantined, attempt 1]: MappingError: x" in text
    assert "pay_20" not in text
    assert "and 5 more" in text
    policy = no_retry_on_permanent_errors(reason="test")
    assert policy.evaluate(caught.value, try_number=1, max_tries=4).action is RetryAction.FAIL
    copy = pickle.loads(pickle.dumps(caught.value))  # Airflow moves exceptions between processes
    assert (str(copy), copy.items) == (text, caught.value.items)

    parked = QuarantineTally(parked=2, open=2)
    figures = check_quarantine({"ingest_reports": {"quarantine": parked.__dict__}})
    assert figures["ingest_reports"]["parked"] == 2


def test_a_failed_step_does_not_hide_what_the_others_quarantined_nor_pass_as_success() -> None:
    """check_quarantine runs when a step failed (trigger rule all_done; the step's result is
    None): it names the other steps' items and the failed step, and fails even with no items,
    since as the DAG's leaf its success would make the run succeed."""
    from ingest_tasks import check_quarantine

    one = QuarantineTally(new=[_item("checkout.disputes", "dsp_1")])
    with pytest.raises(QuarantinedItemsError) as caught:
        check_quarantine({"ingest_payments": None, "ingest_disputes": {"quarantine": one.__dict__}})
    assert "checkout.disputes dsp_1 [quarantined, attempt 1]" in str(caught.value)
    assert "1 step(s) did not finish: ingest_payments" in str(caught.value)

    with pytest.raises(UnfinishedStepsError, match="did not finish: ingest_reports, refresh") as failed:
        check_quarantine({"ingest_payments": {}, "ingest_reports": None, "refresh_referenced_payments": None})
    policy = no_retry_on_permanent_errors(reason="test")
    assert policy.evaluate(failed.value, try_number=1, max_tries=4).action is RetryAction.FAIL


@pytest.mark.airflow
@pytest.mark.slow
def test_a_poisoned_payment_fails_the_run_at_check_quarantine_after_the_rest_landed(dagbag, wired):  # noqa: F811
    sandbox, engine = wired
    payment = next(iter(client_for(sandbox).search_payments(_days_ago(sandbox, 2), _days_ago(sandbox, 0))))[
        "id"
    ]
    requests.post(
        f"{sandbox.base_url}/_sandbox/poison", json={"id": payment, "patch": {"amount": "ten"}}, timeout=10
    ).raise_for_status()

    run = run_dag(dagbag.dags["checkout_ingest"], CONF)

    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert {t: ti.state for t, ti in tis.items()} == {
        "ingest_payments": "success",
        "ingest_disputes": "success",
        "ingest_reports": "success",
        "refresh_referenced_payments": "success",
        "check_quarantine": "failed",
    }
    assert tis["check_quarantine"].try_number == 1  # the retry policy refused to retry it
    with engine.connect() as conn:
        staged = conn.execute(sa.text("select count(*) from stg_payments")).scalar_one()
        row = conn.execute(
            sa.text("select state, raw_location from ops_quarantine where item_id = :p"), {"p": payment}
        ).one()
        marks = conn.execute(sa.text("select count(*) from sync_watermarks")).scalar_one()
    scenario = requests.get(f"{sandbox.base_url}/_sandbox/summary", timeout=10).json()
    assert staged == scenario["counts"]["payments"] - 1
    assert tuple(row) == ("quarantined", "raw_api_objects")
    assert marks >= 3
    engine.dispose()


def _days_ago(sandbox, days: int):
    now = parse_ts(requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"])
    return now - timedelta(days=days)
