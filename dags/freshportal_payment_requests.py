"""
### freshportal_payment_requests

Every confirmed FreshPortal order gets **one live Checkout.com Payment Link**, and the link's id
and URL are written back to the order. Runs every 5 minutes (`CFP_PAYMENT_REQUESTS_SCHEDULE`
overrides, `none` disables) and on demand.

| task | reads | writes |
|---|---|---|
| `sync_orders` | FreshPortal `GET /v1/orders?cursor=` (changed-orders feed) | `stg_orders`, cursor `freshportal.orders.cursor` in `sync_watermarks` (same transaction per page) |
| `create_payment_links` | `stg_orders`, `sync_payment_link_intents`; a fresh `GET /v1/orders/{id}` per order acted on | intent rows, then Checkout.com `POST /payment-links`; `GET /payment-links/{id}` for expiry checks and superseded links |
| `write_back_links` | `sync_payment_link_intents`, `GET /v1/orders/{id}` | FreshPortal `PUT /v1/orders/{id}/payment` (status + link id/URL), `written_back_at` |

A new link is made when a confirmed order has none, when its amount or currency changed (the old
intent is marked **superseded**, the old link's status recorded), and when its unpaid link
expired (**renewed**, up to `max_renewals`; then the order's payment status becomes `expired`).

**Exactly once.** The intent row (unique on order + order version, with a deterministic id and
`Cko-Idempotency-Key`) is committed first; the intent is marked `creating` before the POST and
the link id is committed the moment the 201 arrives, before any write-back. A task retry, a
rerun or a crash after that point finds the link id and creates nothing. A POST whose answer was
lost (crash in that instant, 5xx, read timeout) leaves the intent *in doubt*: by default nothing
new is created until any link it may have made has expired, so two payable links never exist.
The write-back is a `PUT` (idempotent), read-checked first, and never overwrites a paid status.

**Params**: `settings` (JSON) overrides `PaymentRequestSettings`, e.g.
`{"expires_in_hours": 48, "renew_expired": false, "in_doubt": "resend"}`.

**Failure**: a refused order (bad data, a Checkout.com 4xx) fails the task without retry after
every other order was served; 429/5xx/timeouts are retried. The links made in that run are
written back by the next run (a refused order is not retried until it changes, so the next run
passes). Connections: `freshportal_default`,
`checkout_default`, optional `cfp_warehouse`. Runbook: `docs/payment-requests.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from dag_policies import no_retry_on_permanent_errors, schedule_from_env, warehouse_asset

# "none" turns the schedule off (the demo and tests trigger runs themselves).
SCHEDULE = schedule_from_env("CFP_PAYMENT_REQUESTS_SCHEDULE", "*/5 * * * *")


STG_ORDERS = warehouse_asset("stg_orders")
PAYMENT_LINK_INTENTS = warehouse_asset("sync_payment_link_intents")

# A 4xx other than 409/429, bad data or a refused order: retrying cannot help.
NO_RETRY_ON_CLIENT_ERRORS = no_retry_on_permanent_errors(
    reason="client error, refused order or bad data: fix the cause, then clear the task"
)


@dag(
    dag_id="freshportal_payment_requests",
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
        "settings": Param({}, type="object", description="Overrides of PaymentRequestSettings"),
    },
    tags=["freshportal", "checkout", "payment-links"],
    doc_md=__doc__,
)
def freshportal_payment_requests():
    @task(outlets=[STG_ORDERS])
    def sync_orders(params=None, run_id=None):
        from payment_request_tasks import run_step

        return run_step("sync_orders", params, run_id)

    @task(outlets=[PAYMENT_LINK_INTENTS])
    def create_payment_links(params=None, run_id=None):
        from payment_request_tasks import run_step

        return run_step("create_payment_links", params, run_id)

    @task(outlets=[PAYMENT_LINK_INTENTS])
    def write_back_links(params=None, run_id=None):
        from payment_request_tasks import run_step

        return run_step("write_back_links", params, run_id)

    sync_orders() >> create_payment_links() >> write_back_links()


freshportal_payment_requests()
