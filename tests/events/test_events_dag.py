"""``checkout_events`` end to end through Airflow (``dag.test``): sandbox webhooks -> stored events
-> status -> the FreshPortal sandbox, on the embedded SQLite warehouse."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY
from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from checkout_freshportal.warehouse import schema

from events_fixtures import (
    StoringReceiver,
    add_order,
    api_status,
    checkout_sandbox,
    migrated,
    pay,
    post,
    register_workflow,
    rows,
    wait_for_deliveries,
    wait_until,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

ORDERS = [
    {
        "order_id": 910001,
        "order_number": "FP-910001",
        "currency": "EUR",
        "amount_minor": 10_000,
        "status": "confirmed",
    },
    {
        "order_id": 910002,
        "order_number": "FP-910002",
        "currency": "EUR",
        "amount_minor": 5_000,
        "status": "confirmed",
    },
]
_DATES = (datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())
CONF = {
    "settings": {},
    "push_settings": {},
    "triggered_by": "cfp-sidecar",
    "reason": "test",
    "pending_events": None,
    "newest_received_at": None,
}


def run_dag(dag):
    return dag.test(run_conf=dict(CONF), logical_date=next(_DATES))


def test_webhooks_reach_freshportal_through_the_dag(dagbag, migrated_sqlite_url, monkeypatch) -> None:
    engine = migrated(migrated_sqlite_url)
    add_order(engine, "910002", "FP-910002", 5_000)  # found by reference; 910001 by link metadata
    receiver = StoringReceiver(engine)
    fp_config = FreshPortalSandboxConfig(seed=9, orders=ORDERS, order_count=0)
    try:
        with (
            checkout_sandbox(webhook_duplicate_share=0.5, webhook_reorder_share=0.5) as sb,
            FreshPortalSandboxServer(fp_config) as fp,
        ):
            monkeypatch.setenv(
                "AIRFLOW_CONN_CHECKOUT_DEFAULT",
                json.dumps({"conn_type": "checkout", "host": sb.base_url, "password": DEFAULT_SECRET_KEY}),
            )
            monkeypatch.setenv(
                "AIRFLOW_CONN_FRESHPORTAL_DEFAULT",
                json.dumps({"conn_type": "freshportal", "host": fp.base_url, "password": fp.api_key}),
            )
            monkeypatch.setenv("CFP_WAREHOUSE_URL", migrated_sqlite_url)
            register_workflow(sb, receiver.url)
            paid = pay(sb, 10_000, "FP-910001", metadata={"freshportal_order_id": "910001"})["id"]
            held = pay(sb, 5_000, "FP-910002", capture=False)["id"]
            wait_until(lambda: api_status(sb, paid)["balances"]["total_captured"] == 10_000, what="capture")
            post(sb, f"/payments/{paid}/refunds", {"amount": 2_500})
            wait_until(lambda: api_status(sb, paid)["status"] == "Partially Refunded", what="refund")
            wait_for_deliveries(sb, receiver)

            dag = dagbag.dags["checkout_events"]
            first = run_dag(dag)
            tis = {ti.task_id: ti for ti in first.get_task_instances()}
            assert first.state == "success", {k: ti.state for k, ti in tis.items()}

            with fp.state._lock:
                p1 = dict(fp.state.orders[910001].payment or {})
                p2 = dict(fp.state.orders[910002].payment or {})
                puts = fp.state.counters["payment.puts"]
            assert (p1["status"], p1["amount_paid_minor"], p1["amount_refunded_minor"]) == (
                "partially_refunded",
                10_000,
                2_500,
            )
            assert p1["payment_id"] == paid
            assert p1["refund_state"] == "partial"
            assert (p2["status"], p2["payment_id"]) == ("authorized", held)
            box = rows(engine, schema.sync_status_outbox, "order_id", "version")
            delivered = [r for r in box if r["outcome"] == "delivered"]
            assert {(r["order_id"], r["version"]) for r in delivered} == {
                ("910001", p1["sequence"]),
                ("910002", p2["sequence"]),
            }

            # a sweep with nothing new: no write reaches FreshPortal
            second = run_dag(dag)
            assert second.state == "success"
            with fp.state._lock:
                assert fp.state.counters["payment.puts"] == puts
    finally:
        receiver.close()
        engine.dispose()
