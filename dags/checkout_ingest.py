"""
### checkout_ingest

Pulls Checkout.com payments, payment actions, disputes, financial actions and payouts into the
warehouse, incrementally, every hour (`CFP_INGEST_SCHEDULE` overrides the schedule).

| task | source | lands in | watermark |
|---|---|---|---|
| `ingest_payments` | `POST /payments/search` windows from the watermark minus a 3-day re-walk; `GET /payments/{id}/actions` only where the search result does not explain the balances | `stg_payments`, `stg_payment_actions` | `checkout.payments.requested_on` |
| `ingest_disputes` | `GET /disputes` by `last_update` | `stg_disputes` | `checkout.disputes.last_update` |
| `ingest_reports` | Reports API: financial actions (date range and by payout) and payouts CSVs | `stg_financial_actions`, `stg_payouts` | `checkout.reports.created_on` |
| `refresh_referenced_payments` | `GET /payments/{id}` + actions for payments that new report lines or disputes refer to but staging does not explain | `stg_payments`, `stg_payment_actions` | `checkout.refresh.first_seen_at` |

Every step lands rows and moves its watermark in one transaction; a rerun changes nothing.

**Backfill**: trigger with params `from` and `to` (ISO 8601). The run re-walks that range for
all sources, idempotently, and leaves the watermarks where they are.

**Settings**: param `settings` (JSON object) overrides `IngestSettings`, e.g.
`{"rewalk_days": 1, "search_window_hours": 2}`.

**Failure**: an unexpected 4xx from Checkout.com fails the task at once (no retry) with the
request id in the log; 429/5xx/timeouts are retried inside the client, then by Airflow.

**Quarantine**: a payment, dispute, report listing entry or report file that cannot be read is
stored raw and kept aside in `ops_quarantine`; everything else lands and the watermarks move.
The last task, `check_quarantine`, then fails the run (no retry) naming count, ids and reasons;
it runs even when a step failed (trigger rule `all_done`), naming what the other steps
quarantined and the steps that did not finish. Later runs retry those items after their walk,
without blocking on them; after `quarantine_attempts` (3)
an item is parked until `cfp quarantine requeue`. `cfp quarantine list` shows them.

Connections: `checkout_default` (Checkout.com), optional `cfp_warehouse` (default: embedded
SQLite or `CFP_WAREHOUSE_URL`). Runbook: `docs/runbook-ingest.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, TriggerRule, dag, task

from dag_policies import no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

# "none" turns the schedule off (the demo and tests trigger runs themselves).
SCHEDULE = schedule_from_env("CFP_INGEST_SCHEDULE", "@hourly")


STG_PAYMENTS = warehouse_asset("stg_payments")
STG_PAYMENT_ACTIONS = warehouse_asset("stg_payment_actions")
STG_DISPUTES = warehouse_asset("stg_disputes")
STG_FINANCIAL_ACTIONS = warehouse_asset("stg_financial_actions")
STG_PAYOUTS = warehouse_asset("stg_payouts")

# A 4xx other than 409/429, or data that cannot be read exactly: retrying cannot help.
NO_RETRY_ON_CLIENT_ERRORS = no_retry_on_permanent_errors(
    reason="client error or bad data: fix the cause, then clear the task"
)


@dag(
    dag_id="checkout_ingest",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=4,
    dagrun_timeout=timedelta(hours=2),
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "retry_policy": NO_RETRY_ON_CLIENT_ERRORS,
        "execution_timeout": timedelta(minutes=60),
    },
    params={
        "from": Param(None, type=["null", "string"], description="Backfill start (ISO 8601, UTC)"),
        "to": Param(None, type=["null", "string"], description="Backfill end (ISO 8601, UTC, exclusive)"),
        "settings": Param({}, type="object", description="Overrides of IngestSettings"),
    },
    tags=["checkout", "ingest", "warehouse"],
    doc_md=__doc__,
)
def checkout_ingest():
    @task(outlets=[STG_PAYMENTS, STG_PAYMENT_ACTIONS])
    def ingest_payments(params=None, run_id=None):
        from ingest_tasks import run_step

        return run_step("ingest_payments", params, run_id)

    @task(outlets=[STG_DISPUTES])
    def ingest_disputes(params=None, run_id=None):
        from ingest_tasks import run_step

        return run_step("ingest_disputes", params, run_id)

    @task(outlets=[STG_FINANCIAL_ACTIONS, STG_PAYOUTS])
    def ingest_reports(params=None, run_id=None):
        from ingest_tasks import run_step

        return run_step("ingest_reports", params, run_id)

    @task(outlets=[STG_PAYMENTS, STG_PAYMENT_ACTIONS])
    def refresh_referenced_payments(params=None, run_id=None):
        from ingest_tasks import run_step

        return run_step("refresh_referenced_payments", params, run_id)

    # Runs after everything landed, also when a step failed (all_done), so the run always names
    # what was quarantined; fails the run if an item had to be quarantined or a step did not
    # finish (the error is permanent, so the retry policy does not retry it). Without failing
    # itself it would turn the run green: Airflow judges a run by its leaves, and it is the leaf.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def check_quarantine(payments, disputes, reports, refresh):
        from ingest_tasks import check_quarantine

        steps = ("ingest_payments", "ingest_disputes", "ingest_reports", "refresh_referenced_payments")
        return check_quarantine(dict(zip(steps, (payments, disputes, reports, refresh), strict=True)))

    sources = [ingest_payments(), ingest_disputes(), ingest_reports()]
    refresh = refresh_referenced_payments()
    sources >> refresh
    check_quarantine(*sources, refresh)


checkout_ingest()
