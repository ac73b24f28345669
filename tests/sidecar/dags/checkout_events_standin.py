"""Test-only stand-in for ``checkout_events``: marks every unprocessed event processed.

The sidecar's end-to-end test points a standalone Airflow's DAGS_FOLDER here, so it proves the
webhook -> sidecar -> REST trigger -> DAG run -> table path without depending on the real DAG's
connections (Checkout.com, FreshPortal). Same dag_id, same conf hints, same max_active_runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task


@dag(
    dag_id="checkout_events",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    params={
        "triggered_by": Param(None, type=["null", "string"]),
        "reason": Param(None, type=["null", "string"]),
        "pending_events": Param(None, type=["null", "integer"]),
        "newest_received_at": Param(None, type=["null", "string"]),
    },
    tags=["test"],
)
def checkout_events():
    @task
    def mark_processed(params=None) -> int:
        import sqlalchemy as sa

        from checkout_freshportal.config import warehouse_url
        from checkout_freshportal.warehouse.engine import make_engine
        from checkout_freshportal.warehouse.schema import raw_webhook_events as T

        engine = make_engine(warehouse_url())
        try:
            with engine.begin() as conn:
                res = conn.execute(
                    sa.update(T)
                    .where(T.c.processed_at.is_(None), T.c.is_poison.is_(sa.false()))
                    .values(processed_at=datetime.now(UTC), process_attempts=T.c.process_attempts + 1)
                )
                return int(res.rowcount)
        finally:
            engine.dispose()

    mark_processed()


checkout_events()
