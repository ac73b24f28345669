"""Through Airflow (``dag.test``): a task that fails leaves its row in ops_task_failures and a
notification at a real local webhook receiver; a health alert fails the task, is sent once (by
the task) and is recorded as the task's failure too."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from checkout_freshportal.observability import MaskingFilter, current
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import ops_health_checks, ops_task_failures, raw_webhook_events

from obs_helpers import webhook_receiver

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _rows(url: str, table: sa.Table) -> list[dict]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(table))]
    finally:
        eng.dispose()


def test_failures_are_recorded_and_notified(
    dagbag, migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = migrated_sqlite_url
    dag = dagbag.dags["pipeline_health"]
    task = dag.get_task("check_health")
    assert any(getattr(cb, "__name__", "") == "on_task_failure" for cb in task.on_failure_callback)
    monkeypatch.setenv("CFP_WAREHOUSE_URL", url)
    with webhook_receiver() as hook:
        monkeypatch.setenv("CFP_NOTIFY_CHANNEL", "webhook")
        monkeypatch.setenv("CFP_NOTIFY_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("CFP_NOTIFY_RETRIES", "0")
        # 1. A refused setting: the task fails; the callback records it and notifies.
        monkeypatch.setenv("CFP_HEALTH_BACKLOG_COUNT", "lots")
        run = dag.test(logical_date=datetime(2026, 12, 1, tzinfo=UTC))
        assert run.state == "failed"
        (row,) = _rows(url, ops_task_failures)
        assert (row["dag_id"], row["task_id"], row["run_id"]) == (
            "pipeline_health",
            "check_health",
            run.run_id,
        )
        assert row["exception_class"] == "SettingsError"
        assert "CFP_HEALTH_BACKLOG_COUNT" in row["message"]
        assert row["notified_at"] is not None
        assert row["notify_error"] is None
        (note,) = [r.json for r in hook.requests]
        assert note["kind"] == "task_failure"
        assert note["run_id"] == run.run_id
        assert note["try_number"] == row["try_number"]

        # 2. A poison event: the check alerts, the task sends the alert and fails; the callback
        # records the failure without a second message.
        monkeypatch.delenv("CFP_HEALTH_BACKLOG_COUNT")
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(
                sa.insert(raw_webhook_events).values(
                    event_id="poison:x",
                    received_at=datetime.now(UTC),
                    body=b"{",
                    body_sha256=hashlib.sha256(b"{").hexdigest(),
                    is_poison=True,
                )
            )
        eng.dispose()
        alert_run = dag.test(logical_date=datetime(2026, 12, 2, tzinfo=UTC))
        assert alert_run.state == "failed"
        assert [r.json["kind"] for r in hook.requests] == ["task_failure", "health_alert"]
        alert = hook.requests[1].json
        assert alert["run_id"] == alert_run.run_id
        assert {c["name"]: c["status"] for c in alert["checks"]}["poison_events"] == "alert"
    rows = {r["run_id"]: r for r in _rows(url, ops_task_failures)}
    assert rows[alert_run.run_id]["exception_class"] == "HealthAlert"
    assert rows[alert_run.run_id]["notified_at"] is None
    checks = [r for r in _rows(url, ops_health_checks) if r["run_id"] == alert_run.run_id]
    assert len(checks) == 7
    # The task's start installed the masking filter on the process's handlers; its end unbound
    # the task's ids, so nothing logged after the run carries them.
    handlers = logging.getLogger().handlers
    assert any(isinstance(f, MaskingFilter) for h in handlers for f in h.filters)
    assert dict(current()) == {}
