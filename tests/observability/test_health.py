"""Each pipeline_health check stays quiet on a healthy warehouse and fires on planted rows,
on SQLite and on PostgreSQL; results are stored per run."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from checkout_freshportal.observability import health
from checkout_freshportal.observability.settings import HealthSettings
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import (
    ops_health_checks,
    ops_quarantine,
    raw_webhook_events,
    recon_runs,
    sync_money_intents,
    sync_watermarks,
)

NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
EXPECTING = HealthSettings.from_mapping({"webhooks_expected": True})


@pytest.fixture
def engine(migrated_warehouse_url: str):
    eng = make_engine(migrated_warehouse_url)
    yield eng
    eng.dispose()


def _run(engine, settings: HealthSettings = EXPECTING, run_id: str = "r1") -> dict[str, health.CheckResult]:
    return {r.name: r for r in health.evaluate(engine, settings, run_id=run_id, now=NOW)}


def _event(engine, event_id: str, age: timedelta, *, poison: bool = False, processed: bool = False) -> None:
    body = event_id.encode()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(raw_webhook_events).values(
                event_id=event_id,
                received_at=NOW - age,
                body=body,
                body_sha256=hashlib.sha256(body).hexdigest(),
                is_poison=poison,
                processed_at=NOW if processed else None,
            )
        )


def _healthy(engine) -> None:
    _event(engine, "evt_fresh", timedelta(minutes=2), processed=True)
    with engine.begin() as conn:
        conn.execute(sa.insert(sync_watermarks).values(source="checkout.payments", value="x", updated_at=NOW))
        conn.execute(
            sa.insert(recon_runs).values(
                run_id="rec-1", as_of=NOW, mode="full", status="succeeded", started_at=NOW, dq_status="passed"
            )
        )


def _intent(engine, intent_id: str, state: str, attempted_ago: timedelta) -> None:
    at = NOW - attempted_ago
    with engine.begin() as conn:
        conn.execute(
            sa.insert(sync_money_intents).values(
                intent_id=intent_id,
                kind="refund",
                request_key=f"refund_request:{intent_id}",
                order_id="ord_1",
                currency="EUR",
                amount_minor=1000,
                idempotency_key=f"key-{intent_id}",
                state=state,
                created_at=at,
                attempts=1,
                attempted_at=at,
                writeback_attempts=0,
                updated_at=at,
            )
        )


def _quarantined(engine, n: int) -> None:
    with engine.begin() as conn:
        for i in range(n):
            conn.execute(
                sa.insert(ops_quarantine).values(
                    source="checkout.payments",
                    item_id=f"pay_{i}",
                    state="quarantined",
                    reason="unreadable",
                    error_class="ValueError",
                    raw_location="payload",
                    attempts=1,
                    first_failed_at=NOW,
                    last_failed_at=NOW,
                )
            )


def test_a_healthy_warehouse_is_all_ok_and_stored(engine) -> None:
    _healthy(engine)
    results = _run(engine)
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(
        [c.__name__ for c in health.CHECKS], health.OK
    )
    with engine.connect() as conn:
        stored = conn.execute(sa.select(ops_health_checks.c.check_name, ops_health_checks.c.status)).all()
    assert len(stored) == len(health.CHECKS)
    _run(engine)  # the same run again replaces its rows
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ops_health_checks)).scalar() == len(
            health.CHECKS
        )


def test_an_empty_warehouse_alerts_only_when_webhooks_are_expected(engine) -> None:
    assert _run(engine)["webhooks_arriving"].status == health.ALERT
    quiet = _run(engine, HealthSettings.from_mapping({}), run_id="r2")
    assert health.worst(list(quiet.values())) == health.OK


def test_webhooks_stopped_arriving(engine) -> None:
    _event(engine, "evt_old", timedelta(minutes=45), processed=True)
    r = _run(engine)["webhooks_arriving"]
    assert r.status == health.ALERT
    assert r.measure == 45 * 60


def test_ingestion_lag_names_the_late_cursor(engine) -> None:
    _healthy(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(sync_watermarks).values(
                source="checkout.disputes", value="x", updated_at=NOW - timedelta(hours=3)
            )
        )
    # Every cursor (the default): one that has not moved may have had nothing new (the daily
    # report cursor, the dispute sweep), so it warns by name; ingestion alive moved the others.
    r = _run(engine)["ingestion_lag"]
    assert r.status == health.WARN
    assert "checkout.disputes" in r.detail
    only_payments = HealthSettings.from_mapping({"ingestion_sources": ["checkout.payments"]})
    assert _run(engine, only_payments, "r2")["ingestion_lag"].status == health.OK
    # Cursors listed by the operator must each move: a late one alerts.
    listed = HealthSettings.from_mapping({"ingestion_sources": ["checkout.payments", "checkout.disputes"]})
    assert _run(engine, listed, "r3")["ingestion_lag"].status == health.ALERT


def test_ingestion_lag_alerts_when_no_cursor_moved(engine) -> None:
    _healthy(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(sync_watermarks).values(updated_at=NOW - timedelta(hours=3)))
        conn.execute(
            sa.insert(sync_watermarks).values(
                source="checkout.reports.created_on", value="x", updated_at=NOW - timedelta(days=1)
            )
        )
    r = _run(engine)["ingestion_lag"]
    assert r.status == health.ALERT
    assert r.measure == 3 * 3600  # the newest cursor's age: nothing moved for that long


def test_event_backlog_by_count_and_by_age(engine) -> None:
    _healthy(engine)
    _event(engine, "evt_new", timedelta(minutes=1))
    assert _run(engine)["event_backlog"].status == health.OK
    _event(engine, "evt_stuck", timedelta(minutes=20))
    r = _run(engine, run_id="r2")["event_backlog"]
    assert r.status == health.ALERT
    assert r.measure == 2
    small = HealthSettings.from_mapping({"backlog_count": 1, "backlog_age": "1h"})
    assert _run(engine, small, "r3")["event_backlog"].status == health.ALERT


def test_poison_growth_warns_and_the_maximum_alerts(engine) -> None:
    _healthy(engine)
    lenient = HealthSettings.from_mapping({"poison_max": 5})
    assert _run(engine, lenient, "r1")["poison_events"].status == health.OK
    _event(engine, "poison:1", timedelta(minutes=1), poison=True)
    grew = _run(engine, lenient, "r2")["poison_events"]
    assert grew.status == health.WARN
    assert "was 0" in grew.detail
    assert _run(engine, lenient, "r3")["poison_events"].status == health.OK  # no longer growing
    assert _run(engine, HealthSettings.from_mapping({}), "r4")["poison_events"].status == health.ALERT
    _event(engine, "poison:2", timedelta(minutes=1), poison=True, processed=True)  # acknowledged
    assert _run(engine, lenient, "r5")["poison_events"].measure == 1


def test_money_in_doubt(engine) -> None:
    _healthy(engine)
    _intent(engine, "mi_recent", "sending", timedelta(minutes=5))
    _intent(engine, "mi_done", "succeeded", timedelta(hours=5))
    assert _run(engine)["money_in_doubt"].status == health.OK
    _intent(engine, "mi_stuck", "sending", timedelta(hours=2))
    r = _run(engine, run_id="r2")["money_in_doubt"]
    assert r.status == health.ALERT
    assert r.measure == 1
    assert r.detail == "refund: 1"


@pytest.mark.parametrize(
    ("dq", "status"), [("failed", health.ALERT), ("warning", health.WARN), ("passed", health.OK)]
)
def test_data_quality_of_the_latest_run(engine, dq: str, status: str) -> None:
    _healthy(engine)  # an older run that passed
    with engine.begin() as conn:
        conn.execute(
            sa.insert(recon_runs).values(
                run_id="rec-2",
                as_of=NOW,
                mode="full",
                status="succeeded",
                started_at=NOW + timedelta(seconds=1),
                dq_status=dq,
            )
        )
    r = _run(engine)["data_quality"]
    assert r.status == status
    assert "rec-2" in r.detail


def test_a_run_still_running_does_not_hide_the_last_verdict(engine) -> None:
    """A reconciliation run writes dq_status when it ends: one in progress (or one that failed
    before its checks) has none, and showed ok over the failed checks of the run before it."""
    _healthy(engine)
    with engine.begin() as conn:
        for run_id, dq, offset in (("rec-2", "failed", 1), ("rec-3", None, 2)):
            conn.execute(
                sa.insert(recon_runs).values(
                    run_id=run_id,
                    as_of=NOW,
                    mode="incremental",
                    status="succeeded" if dq else "running",
                    started_at=NOW + timedelta(seconds=offset),
                    dq_status=dq,
                )
            )
    r = _run(engine)["data_quality"]
    assert r.status == health.ALERT
    assert "rec-2" in r.detail


def test_open_quarantine_warns_then_alerts(engine) -> None:
    _healthy(engine)
    _quarantined(engine, 1)
    assert _run(engine)["quarantine_open"].status == health.WARN
    _quarantined(engine, 0)
    assert (
        _run(engine, HealthSettings.from_mapping({"quarantine_max": 0}), "r2")["quarantine_open"].status
        == health.ALERT
    )


def test_alert_notification_lists_every_check(engine) -> None:
    results = list(_run(engine).values())
    note = health.alert_notification("r1", results)
    assert "webhooks_arriving" in note.subject
    assert note.payload["kind"] == "health_alert"
    assert len(note.payload["checks"]) == len(health.CHECKS)
