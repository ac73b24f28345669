"""``freshportal_payment_requests`` end to end through Airflow (``dag.test``) on SQLite.

Both sandboxes run for real; the DAG builds its clients from Connections given as environment
variables, exactly as a deployment would.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade

# isort: split
from pr_fixtures import (
    CONFIRMED,
    World,
    checkout_client,
    checkout_sandbox,
    freshportal_client,
    freshportal_sandbox,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# dag.test keeps a run's conf in the DAG object's params for later calls, and reuses a run whose
# logical date it has seen: every run states all params and gets a date of its own.
_DATES = (datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())


def run_dag(dag, settings=None):
    return dag.test(run_conf={"settings": settings or {}}, logical_date=next(_DATES))


def _states(dag_run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}


@pytest.fixture
def wired(migrated_sqlite_url, monkeypatch):
    cko_sb = checkout_sandbox().start()
    fp_sb = freshportal_sandbox()
    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKOUT_DEFAULT",
        json.dumps({"conn_type": "checkout", "host": cko_sb.base_url, "password": DEFAULT_SECRET_KEY}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT",
        json.dumps({"conn_type": "freshportal", "host": fp_sb.base_url, "password": fp_sb.api_key}),
    )
    monkeypatch.setenv("CFP_WAREHOUSE_URL", migrated_sqlite_url)
    monkeypatch.delenv("CFP_FRESHPORTAL_MAPPING", raising=False)
    engine = make_engine(migrated_sqlite_url)
    upgrade(engine)
    world = World(cko_sb, fp_sb, checkout_client(cko_sb), freshportal_client(fp_sb), engine)
    try:
        yield world
    finally:
        world.cko.close()
        world.fp.close()
        engine.dispose()
        fp_sb.stop()
        cko_sb.stop()


def test_dag_creates_one_link_per_confirmed_order_and_a_rerun_creates_nothing(dagbag, wired):
    dag = dagbag.dags["freshportal_payment_requests"]
    first = run_dag(dag)
    assert first.state == "success", _states(first)
    links = wired.links_by_reference()
    assert sorted(links) == sorted(CONFIRMED)
    assert all(len(v) == 1 for v in links.values())
    for number in CONFIRMED:
        assert wired.fp_order(number)["payment"]["payment_link_id"] == links[number][0]["id"]

    second = run_dag(dag)
    assert second.state == "success", _states(second)
    assert wired.links_by_reference() == links
    with wired.engine.connect() as conn:
        states = dict(
            conn.exec_driver_sql("select state, count(*) from sync_payment_link_intents group by state").all()
        )
        cursor = conn.execute(
            sa.text("select value from sync_watermarks where source = 'freshportal.orders.cursor'")
        )
        assert cursor.scalar_one()
    assert states == {"created": 4}


def test_a_refused_order_fails_the_task_without_retry_after_serving_the_rest(dagbag, wired):
    wired.fp_admin(
        "POST", "/orders", {"order_number": "FP-" + "7" * 60, "currency": "EUR", "amount_minor": 100}
    )
    run = run_dag(dagbag.dags["freshportal_payment_requests"])
    assert run.state == "failed"
    states = _states(run)
    assert states["sync_orders"][0] == "success"
    assert states["create_payment_links"] == ("failed", 1)  # the retry policy refused to retry
    assert states["write_back_links"][0] == "upstream_failed"
    links = wired.links_by_reference()
    assert sorted(links) == sorted(CONFIRMED)  # every other order was served

    after = run_dag(dagbag.dags["freshportal_payment_requests"])  # the next scheduled run
    assert after.state == "success", _states(after)  # the unchanged refused order is not retried
    assert wired.links_by_reference() == links
    for number in CONFIRMED:
        assert wired.fp_order(number)["payment"]["payment_link_id"] == links[number][0]["id"]
