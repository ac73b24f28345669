"""
### pipeline_health

Measures the pipeline from the warehouse every 15 minutes (`CFP_HEALTH_SCHEDULE` overrides,
`none` disables) and fails when something needs a person. Thresholds are `CFP_HEALTH_*`
settings; each check, its threshold and what to do when it fires are in
`docs/observability.md` ("Health checks").

| task | reads | writes |
|---|---|---|
| `check_health` | `raw_webhook_events` (newest arrival, backlog, poison), `sync_watermarks`, `sync_money_intents` (in doubt), `recon_runs` (latest data quality), `ops_quarantine` | `ops_health_checks` (one row per check: ok / warn / alert, value, threshold) |

**Failure**: any alert fails the task (no retry: the next run checks again) after the alert was
sent through `CFP_NOTIFY_CHANNEL` (smtp, webhook or none); warnings only show in the task log and
the table. Connection: optional `cfp_warehouse` (else `CFP_WAREHOUSE_URL`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from dag_policies import no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

SCHEDULE = schedule_from_env("CFP_HEALTH_SCHEDULE", "*/15 * * * *")

OPS_HEALTH_CHECKS = warehouse_asset("ops_health_checks")


@dag(
    dag_id="pipeline_health",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    default_args={
        "owner": "data-engineering",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "retry_policy": no_retry_on_permanent_errors(
            reason="a health check alerted: the next run checks again"
        ),
        "execution_timeout": timedelta(minutes=5),
    },
    tags=["observability", "operations"],
    doc_md=__doc__,
)
def pipeline_health():
    @task(outlets=[OPS_HEALTH_CHECKS])
    def check_health() -> dict:
        from health_tasks import check_health as body

        return body(get_current_context()["run_id"])

    check_health()


pipeline_health()
