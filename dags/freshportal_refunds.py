"""
### freshportal_refunds

Every refund requested in FreshPortal is **executed at Checkout.com exactly once**, and its
outcome is written back to the request. Runs every 5 minutes (`CFP_REFUNDS_SCHEDULE` overrides,
`none` disables) and on demand.

| task | reads | writes |
|---|---|---|
| `pull_requests` | FreshPortal `GET /v1/refund-requests?cursor=` | `stg_refund_requests`, one intent per request in `sync_money_intents`, cursor `freshportal.refund_requests.cursor` (same transaction per page) |
| `execute_refunds` | intents; `GET /payments/{id}` per request (validation), `GET /payments/{id}/actions` for an intent left in doubt | `POST /payments/{id}/refunds` (or `/voids` for a full refund of an uncaptured payment) with the intent's `Cko-Idempotency-Key`; the action id at once |
| `resolve_outcomes` | stored webhooks (`payment_refunded`, `payment_refund_declined`, void pair); the payment's actions when none came within `outcome_timeout` | outcome on the intent, declines in `ops_payment_declines` |
| `write_back_outcomes` | intents | FreshPortal `PUT /v1/refund-requests/{id}/outcome`: processing, refunded (amount, action id, time) or failed (reason code and text) |

**Validation** (before any call; the request is answered in FreshPortal and nothing is sent):
`payment_not_found`, `currency_mismatch`, `invalid_amount`, `amount_exceeds_refundable`,
`payment_not_captured`, `void_not_allowed`, `duplicate_request`. After the call:
`refused_by_checkout` (a 4xx), `declined` (with Checkout.com's response code and summary).

**Exactly once.** The intent (unique on the refund request id) is committed first, `sending`
before the POST, the action id the moment the 202 arrives. A retry, a second run or a crash finds
the claim taken or the action id recorded; an intent left in doubt is resolved by looking for its
action (by the reference it sent) and only then sent again, under the same key.

**Params**: `settings` (JSON) overrides `RefundSettings`, e.g.
`{"allow_voids": false, "outcome_timeout_minutes": 30}`.

**Failure**: something Checkout.com or FreshPortal refused fails the task without retry after
every other request was served; 429/5xx/timeouts are retried, and what is left waits for the
next run. The money tasks run even when an earlier one failed (`all_done`), so outcomes and
answers never wait on the feed; the leaf `fail_if_a_step_failed` then fails the run, so a
failure is never hidden behind a successful last task. Connections: `freshportal_default`, `checkout_default`, optional `cfp_warehouse`.
Runbook: `docs/refunds.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from dag_policies import fail_run, no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

# "none" turns the schedule off (the demo and tests trigger runs themselves).
SCHEDULE = schedule_from_env("CFP_REFUNDS_SCHEDULE", "*/5 * * * *")

STG_REFUND_REQUESTS = warehouse_asset("stg_refund_requests")
MONEY_INTENTS = warehouse_asset("sync_money_intents")
OPS_PAYMENT_DECLINES = warehouse_asset("ops_payment_declines")

NO_RETRY_ON_CLIENT_ERRORS = no_retry_on_permanent_errors(
    reason="a refund Checkout.com or FreshPortal refused: look at it, then clear the task"
)


@dag(
    dag_id="freshportal_refunds",
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
        "settings": Param({}, type="object", description="Overrides of RefundSettings"),
    },
    tags=["freshportal", "checkout", "refunds"],
    doc_md=__doc__,
)
def freshportal_refunds():
    @task(outlets=[STG_REFUND_REQUESTS, MONEY_INTENTS])
    def pull_requests(params=None, run_id=None):
        from refund_tasks import run_step

        return run_step("pull", params, run_id)

    # The money steps never wait on the feed: a FreshPortal outage or an unreadable page must
    # not stop in-doubt recovery, outcomes or answers of requests already pulled.
    @task(outlets=[MONEY_INTENTS], trigger_rule="all_done")
    def execute_refunds(params=None, run_id=None):
        from refund_tasks import run_step

        return run_step("execute", params, run_id)

    @task(outlets=[MONEY_INTENTS, OPS_PAYMENT_DECLINES], trigger_rule="all_done")
    def resolve_outcomes(params=None, run_id=None):
        from refund_tasks import run_step

        return run_step("resolve", params, run_id)

    @task(outlets=[MONEY_INTENTS], trigger_rule="all_done")
    def write_back_outcomes(params=None, run_id=None):
        from refund_tasks import run_step

        return run_step("write_back", params, run_id)

    # The money steps run whatever happened before them, and an all_done leaf that succeeds
    # would mark the whole run successful: this watcher (Airflow's "watcher" pattern) is the
    # leaf that fails the run whenever any step failed. Skipped when all succeeded.
    @task(trigger_rule="one_failed")
    def fail_if_a_step_failed():
        fail_run("freshportal_refunds")

    pull, execute, resolve, answer = (
        pull_requests(),
        execute_refunds(),
        resolve_outcomes(),
        write_back_outcomes(),
    )
    pull >> execute >> resolve >> answer
    [pull, execute, resolve, answer] >> fail_if_a_step_failed()


freshportal_refunds()
