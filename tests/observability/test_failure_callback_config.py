"""The failure callback records the failure even when the notification cannot be set up: an
SMTP connection that does not exist, notify settings the operator mistyped. Recording is what
the operator relies on; the notification's problem is kept beside it as ``notify_error``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import ops_task_failures

pytestmark = pytest.mark.airflow


def _context() -> dict:
    ti = SimpleNamespace(
        dag_id="freshportal_refunds",
        task_id="execute_refunds",
        run_id="manual__2026-12-06",
        try_number=2,
        map_index=-1,
        log_url="http://airflow/log",
        hostname="worker-1",
    )
    return {"ti": ti, "exception": RuntimeError("refund refused")}


def _rows(url: str) -> list[dict]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(ops_task_failures))]
    finally:
        eng.dispose()


@pytest.fixture
def warehouse(migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("CFP_NOTIFY_SMTP_HOST", "CFP_NOTIFY_WEBHOOK_URL", "AIRFLOW_CONN_CFP_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFP_WAREHOUSE_URL", migrated_sqlite_url)
    return migrated_sqlite_url


def test_a_missing_smtp_connection_is_a_notify_error_not_a_lost_record(
    airflow_db: str, warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from failure_callbacks import on_task_failure

    monkeypatch.setenv("CFP_NOTIFY_CHANNEL", "smtp")
    monkeypatch.setenv("CFP_NOTIFY_SMTP_CONN_ID", "cfp_smtp_that_does_not_exist")
    monkeypatch.setenv("CFP_NOTIFY_SMTP_FROM", "cfp@example.com")
    monkeypatch.setenv("CFP_NOTIFY_SMTP_TO", "ops@example.com")
    on_task_failure(_context())
    (row,) = _rows(warehouse)
    assert (row["task_id"], row["try_number"]) == ("execute_refunds", 2)
    assert row["exception_class"] == "RuntimeError"
    assert row["notified_at"] is None
    assert "cfp_smtp_that_does_not_exist" in row["notify_error"]


def test_refused_notify_settings_are_a_notify_error_not_a_lost_record(
    airflow_db: str, warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from failure_callbacks import on_task_failure

    monkeypatch.setenv("CFP_NOTIFY_CHANNEL", "webhook")  # without CFP_NOTIFY_WEBHOOK_URL
    on_task_failure(_context())
    (row,) = _rows(warehouse)
    assert row["message"] == "refund refused"
    assert row["notified_at"] is None
    assert "CFP_NOTIFY_WEBHOOK_URL" in row["notify_error"]
