"""
### freshportal_captures

Payments on **manual-capture processing channels** are captured when their FreshPortal order
is **released to fulfilment**: one capture per release, exactly once; partial releases give
`NonFinal` captures and the release that completes the order the `Final` one. What cannot be
captured (expired authorisation, nothing left, a refusal or decline) is reported on the order
as a note with a stable reason code. Runs every 5 minutes (`CFP_CAPTURES_SCHEDULE` overrides,
`none` disables) and on demand.

| task | reads | writes |
|---|---|---|
| `pull_releases` | FreshPortal `GET /v1/fulfilment-releases?cursor=` | one `sync_money_intents` row per release (`release:<id>`), cursor `freshportal.fulfilment_releases.cursor` in `sync_watermarks` (same transaction per page) |
| `execute_captures` | intents; Checkout.com `GET /payments/{id}` (fresh balances, expiry, channel), `GET /payments/{id}/actions` for in-doubt ones | `POST /payments/{id}/captures` under the intent's idempotency key; intent states |
| `resolve_outcomes` | stored `payment_captured` / `payment_capture_declined` webhooks; late: the payment's actions | succeeded / declined, `ops_payment_declines` |
| `write_back_notes` | intents | FreshPortal order notes (`create_note`, external ref `cfp-capture:<release>:<status>`) |

**Exactly once.** The intent is committed before anything is sent, marked `sending` before the
POST and given the action id the moment the 202 arrives; a crash in between is resolved by
looking for the action by its reference (the intent id) and, only if absent, resending under
the same idempotency key. Notes are looked up by external ref before they are posted.

**Params**: `settings` (JSON) overrides `CaptureSettings`, e.g.
`{"manual_capture_channels": ["pc_..."], "capture_all_authorised": false}`.

**Failure**: a capture Checkout.com refused (403/422), or a note FreshPortal refused, fails the
task without retry after every other release was served; the later steps still run (`all_done`,
so outcomes and notes of every other release are written), and the leaf
`fail_if_a_step_failed` then fails the run. 429/5xx/timeouts are retried. Connections: `freshportal_default`,
`checkout_default`, optional `cfp_warehouse`. Runbook: `docs/captures.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from dag_policies import fail_run, no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

# "none" turns the schedule off (the demo and tests trigger runs themselves).
SCHEDULE = schedule_from_env("CFP_CAPTURES_SCHEDULE", "*/5 * * * *")

MONEY_INTENTS = warehouse_asset("sync_money_intents")
OPS_PAYMENT_DECLINES = warehouse_asset("ops_payment_declines")

# A 4xx other than 409/429, bad data or a refused capture: retrying cannot help.
NO_RETRY_ON_CLIENT_ERRORS = no_retry_on_permanent_errors(
    reason="client error, refused capture or bad data: fix the cause, then clear the task"
)


@dag(
    dag_id="freshportal_captures",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args={
        "owner": "data-engineering",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
        "retry_policy": NO_RETRY_ON_CLIENT_ERRORS,
        "execution_timeout": timedelta(minutes=20),
    },
    params={
        "settings": Param({}, type="object", description="Overrides of CaptureSettings"),
    },
    tags=["freshportal", "checkout", "captures"],
    doc_md=__doc__,
)
def freshportal_captures():
    @task(outlets=[MONEY_INTENTS])
    def pull_releases(params=None, run_id=None):
        from capture_tasks import run_step

        return run_step("pull", params, run_id)

    @task(outlets=[MONEY_INTENTS], trigger_rule="all_done")
    def execute_captures(params=None, run_id=None):
        from capture_tasks import run_step

        return run_step("execute", params, run_id)

    @task(outlets=[MONEY_INTENTS, OPS_PAYMENT_DECLINES], trigger_rule="all_done")
    def resolve_outcomes(params=None, run_id=None):
        from capture_tasks import run_step

        return run_step("resolve", params, run_id)

    # The money steps never wait on the feed or on one stuck release: they run "all_done", and
    # the watcher leaf below fails the run whenever any step failed (Airflow judges a run by its
    # leaves, so an all_done leaf that succeeds would hide the failure).
    @task(outlets=[MONEY_INTENTS], trigger_rule="all_done")
    def write_back_notes(params=None, run_id=None):
        from capture_tasks import run_step

        return run_step("write_back", params, run_id)

    @task(trigger_rule="one_failed")
    def fail_if_a_step_failed():
        fail_run("freshportal_captures")

    pull, execute, resolve, notes = (
        pull_releases(),
        execute_captures(),
        resolve_outcomes(),
        write_back_notes(),
    )
    pull >> execute >> resolve >> notes
    [pull, execute, resolve, notes] >> fail_if_a_step_failed()


freshportal_captures()
