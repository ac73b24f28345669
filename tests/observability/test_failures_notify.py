"""Task failures recorded in ops_task_failures and notified through a real local webhook receiver
and a real local SMTP server; a notification that cannot be sent is recorded, never raised."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from checkout_freshportal.observability import failures
from checkout_freshportal.observability.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notification,
    NotifyError,
    send,
    sign,
)
from checkout_freshportal.observability.settings import NotifySettings
from checkout_freshportal.settings_base import SettingsError
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.schema import ops_task_failures

from obs_helpers import free_port, smtp_receiver, webhook_receiver

NOTE = Notification("subject", "text", {"kind": "test", "n": 1})
NO_WAIT = {"sleep": lambda _s: None}


def _failure(try_number: int = 1) -> failures.TaskFailure:
    exc = RuntimeError("card 4242424242424242 refused for jane@example.com\n\x1b[31mforged")
    return failures.describe(
        exc,
        dag_id="freshportal_refunds",
        task_id="execute_refunds",
        run_id="manual__2026-12-06",
        try_number=try_number,
        log_url="http://airflow/log",
        failed_at=datetime(2026, 12, 6, 21, 0, tzinfo=UTC),
    )


def _rows(url: str) -> list[dict]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(ops_task_failures))]
    finally:
        eng.dispose()


def test_webhook_is_signed_and_retried_after_a_5xx() -> None:
    with webhook_receiver(statuses=[503]) as hook:
        s = NotifySettings.from_mapping(
            {"channel": "webhook", "webhook_url": hook.url, "webhook_secret": "s3cret"}
        )
        assert send(NOTE, s, **NO_WAIT) == "webhook"
    first, second = hook.requests
    assert second.json == {"kind": "test", "n": 1}
    stamp = second.headers[TIMESTAMP_HEADER.lower()]
    assert hmac.compare_digest(second.headers[SIGNATURE_HEADER.lower()], sign("s3cret", stamp, second.body))
    assert first.body == second.body


def test_webhook_refusal_is_not_retried_and_raises() -> None:
    with webhook_receiver(statuses=[400]) as hook:
        s = NotifySettings.from_mapping({"channel": "webhook", "webhook_url": hook.url, "retries": 3})
        with pytest.raises(NotifyError, match="HTTP 400 after 1 attempt"):
            send(NOTE, s, **NO_WAIT)
    assert len(hook.requests) == 1
    assert SIGNATURE_HEADER.lower() not in hook.requests[0].headers


def test_smtp_delivers_one_message() -> None:
    with smtp_receiver() as smtp:
        s = NotifySettings.from_mapping(
            {
                "channel": "smtp",
                "smtp_host": smtp.host,
                "smtp_port": smtp.port,
                "smtp_from": "cfp@example.com",
                "smtp_to": "ops@example.com,finance@example.com",
            }
        )
        assert send(NOTE, s) == "smtp"
    ((sender, rcpts, msg),) = smtp.messages
    assert sender == "cfp@example.com"
    assert rcpts == ["ops@example.com", "finance@example.com"]
    assert msg["Subject"] == "subject"
    assert msg.get_payload().strip() == "text"


def test_incomplete_channels_are_refused() -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_URL"):
        NotifySettings.from_mapping({"channel": "webhook"})
    with pytest.raises(SettingsError, match="SMTP_FROM"):
        NotifySettings.from_mapping({"channel": "smtp", "smtp_host": "localhost"})


def test_describe_masks_and_escapes_the_message() -> None:
    f = _failure()
    assert f.exception_class == "RuntimeError"
    assert "4242424242424242" not in (f.message or "")
    assert "************4242" in (f.message or "")
    assert "j***@example.com" in (f.message or "")
    assert "\n" not in (f.message or "")
    assert "\x1b" not in (f.message or "")


def test_failure_is_recorded_once_per_try_and_notified(migrated_warehouse_url: str) -> None:
    url = migrated_warehouse_url
    with webhook_receiver() as hook:
        s = NotifySettings.from_mapping({"channel": "webhook", "webhook_url": hook.url})
        for _ in range(2):  # the same callback twice: one row
            out = failures.handle(_failure(), s, engine_factory=lambda: make_engine(url))
            assert out.recorded
            assert out.notified
            assert out.channel == "webhook"
        failures.handle(_failure(try_number=2), s, engine_factory=lambda: make_engine(url))
    rows = sorted(_rows(url), key=lambda r: r["try_number"])
    assert [r["try_number"] for r in rows] == [1, 2]
    assert rows[0]["map_index"] == -1
    assert rows[0]["notified_at"] is not None
    assert rows[0]["notify_error"] is None
    assert rows[0]["notify_channel"] == "webhook"
    assert len(hook.requests) == 2  # one message per try: the repeated callback sent none
    payload = hook.requests[0].json
    assert payload["kind"] == "task_failure"
    assert payload["dag_id"] == "freshportal_refunds"
    assert "4242424242424242" not in hook.requests[0].body.decode()


def test_a_notification_that_fails_is_recorded_not_raised(migrated_sqlite_url: str) -> None:
    url = migrated_sqlite_url
    s = NotifySettings.from_mapping(
        {"channel": "webhook", "webhook_url": f"http://127.0.0.1:{free_port()}/x", "retries": 0}
    )
    out = failures.handle(_failure(), s, engine_factory=lambda: make_engine(url))
    assert out.recorded
    assert not out.notified
    assert "ConnectionError" in (out.notify_error or "")
    (row,) = _rows(url)
    assert row["notified_at"] is None
    assert "ConnectionError" in row["notify_error"]


def test_no_warehouse_still_notifies() -> None:
    with smtp_receiver() as smtp:
        s = NotifySettings.from_mapping(
            {
                "channel": "smtp",
                "smtp_host": smtp.host,
                "smtp_port": smtp.port,
                "smtp_from": "a@b.example",
                "smtp_to": "c@d.example",
            }
        )

        def broken() -> sa.Engine:
            raise RuntimeError("warehouse down at postgresql://u:pw-secret@db/x")

        out = failures.handle(_failure(), s, engine_factory=broken)
    assert not out.recorded
    assert "pw-secret" not in (out.record_error or "")
    assert out.notified
    assert "execute_refunds" in smtp.messages[0][2]["Subject"]
