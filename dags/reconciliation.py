"""
### reconciliation

Every FreshPortal order **tied to its money**, to the minor unit: payments, refunds, chargebacks,
fees and payouts matched in the warehouse, every discrepancy kept as an exception with its
history, data quality checked, a finance report written, and FreshPortal told once per
exception and state change. Runs daily at 05:00 UTC (`CFP_RECON_SCHEDULE` overrides the cron,
`none` disables all scheduling) **and** whenever ingestion, events, payment requests, refunds or
captures update a table it reads (their warehouse assets); one run at a time, on demand too.

| task | reads | writes |
|---|---|---|
| `reconcile` | `stg_orders`, `stg_payments`, `stg_payment_actions`, `stg_disputes`, financial-action lines, `stg_payouts`, `stg_refund_requests`, `stg_payment_status`, `sync_*` | `recon_runs`, `recon_matches`, `recon_exceptions` (+ audit `recon_exception_events`), `recon_run_totals` |
| `data_quality` | the staged tables (Great Expectations, in the warehouse) | `recon_dq_results`, `recon_runs.dq_status`; **fails** on a failed critical check |
| `render_report` | `recon_*`, staged tables | `<CFP_REPORT_OUT_DIR>/<date>/<time>Z-<run>/` and `latest/`: report.html, CSV, XLSX |
| `note_exceptions` | `recon_exceptions` | FreshPortal `POST /v1/orders/{id}/notes` (ref `cfp-exception:<id>:v<n>`), `notified_version` |

**Params**: `settings` (JSON) overrides `ReconcileSettings`, e.g.
`{"payment_due_days": 5, "notes": false}`; `full` (bool) forces a full run instead of an
incremental one.

**Failure**: every step after `reconcile` runs whatever happened before it (`all_done`): the
report must show a failed data-quality run, and notes follow the exceptions as last stored,
except after a failed critical data-quality check (`recon_runs.dq_status = 'failed'`): then
`note_exceptions` is **skipped** (customer service would act on exceptions found in data known
to be wrong; the next run whose data passes writes them). The
leaf `fail_if_a_step_failed` then fails the run, so a failure is never hidden behind a
successful report. A failed critical data-quality check is not retried (fix the data, clear
the task); a FreshPortal outage during notes is retried and the next run writes what is left.
Connections: `cfp_warehouse` (or CFP_WAREHOUSE_URL), `freshportal_default` (notes).
The latest report: Airflow UI menu **Browse > Reconciliation report** (plugins/report_view.py).
Runbook: `docs/runbook-reconciliation.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from dag_policies import fail_run, no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

#: What reconciliation reads, as the other DAGs emit them: a change in any starts a run.
INPUTS = [
    warehouse_asset(table)
    for table in (
        "stg_orders",  # freshportal_payment_requests
        "sync_payment_link_intents",
        "stg_payments",  # checkout_ingest
        "stg_payment_actions",
        "stg_disputes",
        "stg_financial_actions",
        "stg_payouts",
        "stg_payment_status",  # checkout_events
        "sync_status_outbox",
        "stg_refund_requests",  # freshportal_refunds
        "sync_money_intents",  # freshportal_refunds, freshportal_captures
    )
]
RECON_EXCEPTIONS = warehouse_asset("recon_exceptions")
RECON_DQ_RESULTS = warehouse_asset("recon_dq_results")

# "none" turns scheduling off, asset triggers included (the demo and tests trigger runs).
CRON = schedule_from_env("CFP_RECON_SCHEDULE", "0 5 * * *")
SCHEDULE = (
    AssetOrTimeSchedule(timetable=CronTriggerTimetable(CRON, timezone="UTC"), assets=AssetAny(*INPUTS))
    if CRON
    else None
)

NO_RETRY_ON_PERMANENT_ERRORS = no_retry_on_permanent_errors(
    reason="a failed critical data-quality check or a refused setting: fix it, then clear the task"
)


@dag(
    dag_id="reconciliation",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    dagrun_timeout=timedelta(hours=2),
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": NO_RETRY_ON_PERMANENT_ERRORS,
        "execution_timeout": timedelta(minutes=60),
    },
    params={
        "settings": Param({}, type="object", description="Overrides of ReconcileSettings"),
        "full": Param(False, type="boolean", description="A full run instead of an incremental one"),
    },
    tags=["reconciliation", "finance", "data-quality"],
    doc_md=__doc__,
)
def reconciliation():
    @task(outlets=[RECON_EXCEPTIONS])
    def reconcile(params=None, run_id=None):
        from recon_tasks import reconcile

        return reconcile(params, run_id)

    # Data quality checks the staged data, not reconciliation's output: it runs (and is
    # reported) even when matching failed.
    @task(outlets=[RECON_DQ_RESULTS], trigger_rule="all_done")
    def data_quality(params=None, run_id=None):
        from recon_tasks import data_quality

        return data_quality(params, run_id)

    # The report must show a failed data-quality run: it never waits on success.
    @task(trigger_rule="all_done")
    def render_report(params=None, run_id=None):
        from recon_tasks import render_report

        return render_report(params, run_id)

    # Skips itself when this run's data quality failed a critical check (recon_tasks.py).
    @task(trigger_rule="all_done")
    def note_exceptions(params=None, run_id=None):
        from recon_tasks import note_exceptions

        return note_exceptions(params, run_id)

    # Airflow judges a run by its leaves: this watcher fails the run whenever a step failed
    # (skipped when all succeeded), as in freshportal_refunds.
    @task(trigger_rule="one_failed")
    def fail_if_a_step_failed():
        fail_run("reconciliation")

    steps = reconcile(), data_quality(), render_report(), note_exceptions()
    steps[0] >> steps[1] >> steps[2] >> steps[3]
    list(steps) >> fail_if_a_step_failed()


reconciliation()
