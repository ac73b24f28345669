"""
### checkout_events

Turns stored Checkout.com webhook events into each order's payment status in FreshPortal.

The webhook sidecar commits every signed delivery to `raw_webhook_events` and triggers this DAG
through the REST API (at most one queued run, within about a second); the schedule (every 10
minutes, `CFP_EVENTS_SCHEDULE` overrides it, `none` disables it) sweeps up whatever a missed
trigger left. The run never relies on its `conf`: it always takes every unprocessed event.

| task | does | writes |
|---|---|---|
| `apply_events` | batches of unprocessed events (oldest first) through the status state machine; `GET /payments/{id}` once per payment per run where events are missing or contradict each other; resolves the FreshPortal order; events are marked processed in the same transaction | `stg_payment_status`, `ops_payment_declines`, `sync_status_outbox` |
| `push_statuses` | newest waiting outbox version per order -> `PUT /v1/orders/{id}/payment` with `sequence` = version (and the dispute's `chargeback` signal); 409 = superseded; FreshPortal down = waits with backoff | `sync_status_outbox` |
| `deadline_notes` | open disputes whose evidence is due within `evidence_deadline_warning_days` -> one note on the order (stable `external_ref`, listed first) and a WARNING line | FreshPortal notes |

Precedence rules, the merge argument and the outbox: `docs/status-machine.md`; disputes, the
chargeback signal and the notes: `docs/chargebacks.md`.

**Settings**: params `settings` (`EventsSettings`, e.g. `{"batch_size": 200, "time_budget_seconds": 120}`)
`push_settings` (`PushSettings`, e.g. `{"max_orders": 500}`) and `chargeback_settings`
(`ChargebackSettings`, e.g. `{"evidence_deadline_warning_days": 5}`). The sidecar's hints
(`triggered_by`, `reason`, `pending_events`, `newest_received_at`) are logged only.

**Failure**: a Checkout.com or FreshPortal 4xx (credentials, a refused write), a status missing
from the tenant mapping: the task fails at once, no retry; everything else it could do is
committed. Transient API failures are retried inside the clients, then the events or outbox rows
wait for the next run. Poison events are listed in the task result and log, never applied.

Connections: `checkout_default`, `freshportal_default`, optional `cfp_warehouse`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from dag_policies import no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

# "none" turns the schedule off (the sidecar's triggers then do all the work).
SCHEDULE = schedule_from_env("CFP_EVENTS_SCHEDULE", "*/10 * * * *")


STG_PAYMENT_STATUS = warehouse_asset("stg_payment_status")
OPS_PAYMENT_DECLINES = warehouse_asset("ops_payment_declines")
SYNC_STATUS_OUTBOX = warehouse_asset("sync_status_outbox")

# A 4xx other than 409/429, or a status the tenant mapping lacks: retrying cannot help.
NO_RETRY_ON_CLIENT_ERRORS = no_retry_on_permanent_errors(
    reason="client error, refused write or unmapped status: fix the cause, then clear the task"
)


@dag(
    dag_id="checkout_events",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
        "retry_policy": NO_RETRY_ON_CLIENT_ERRORS,
        "execution_timeout": timedelta(minutes=15),
    },
    params={
        "settings": Param({}, type="object", description="Overrides of EventsSettings"),
        "push_settings": Param({}, type="object", description="Overrides of PushSettings"),
        "chargeback_settings": Param({}, type="object", description="Overrides of ChargebackSettings"),
        # The sidecar's conf hints (triggered_by, reason, pending_events, newest_received_at) are
        # deliberately not declared: undeclared conf keys pass unvalidated, so a change in what
        # the sidecar sends can never make a run fail. They are logged, never relied on.
    },
    tags=["checkout", "freshportal", "webhooks", "status"],
    doc_md=__doc__,
)
def checkout_events():
    @task(outlets=[STG_PAYMENT_STATUS, OPS_PAYMENT_DECLINES, SYNC_STATUS_OUTBOX])
    def apply_events(params=None, run_id=None):
        from events_tasks import apply_events as run

        return run(params, run_id)

    @task(outlets=[SYNC_STATUS_OUTBOX])
    def push_statuses(params=None, run_id=None):
        from events_tasks import push_statuses as run

        return run(params, run_id)

    @task
    def deadline_notes(params=None, run_id=None):
        from events_tasks import deadline_notes as run

        return run(params, run_id)

    applied = apply_events()
    applied >> push_statuses()
    applied >> deadline_notes()


checkout_events()
