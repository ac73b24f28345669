"""Settings of the observability layer: log format, failure notifications, health thresholds.

Environment variables (docs/observability.md, docs/settings.md): ``CFP_LOG_*``,
``CFP_NOTIFY_*`` and ``CFP_HEALTH_*``, parsed like every other group (settings_base.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from checkout_freshportal.settings_base import (
    Duration,
    Flag,
    NonNegativeInt,
    PositiveInt,
    TextList,
    TypedSettings,
)


class LogSettings(TypedSettings):
    settings_group: ClassVar[str] = "logging"
    env_prefix: ClassVar[str] = "CFP_LOG_"

    # JSON by default: the sidecar and the CLI run as services whose lines a collector parses;
    # ``text`` is for a person reading a terminal. Both are masked the same way.
    format: Literal["json", "text"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


class NotifySettings(TypedSettings):
    """Where a task failure or a health alert is sent; ``none`` records it in the warehouse only."""

    settings_group: ClassVar[str] = "notify"
    env_prefix: ClassVar[str] = "CFP_NOTIFY_"

    channel: Literal["none", "smtp", "webhook"] = "none"
    # SMTP (stdlib smtplib). An Airflow connection named by smtp_conn_id, when set, supplies
    # host, port, login and password inside Airflow (plugins/failure_callbacks.py).
    smtp_host: str | None = None
    smtp_port: PositiveInt = 25
    smtp_from: str | None = None
    smtp_to: TextList = ()
    smtp_starttls: Flag = False
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_conn_id: str | None = None
    # HTTP webhook: a JSON POST; signed with HMAC-SHA256 when a secret is set.
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    # Short: the notification runs inside a failing task's callback, which must not hang.
    timeout: Duration = timedelta(seconds=10)
    # Attempts after the first one on a connection error, a timeout, a 429 or a 5xx.
    retries: NonNegativeInt = 2

    @model_validator(mode="after")
    def _channel_complete(self) -> NotifySettings:
        if self.channel == "webhook" and not self.webhook_url:
            raise ValueError("CFP_NOTIFY_CHANNEL=webhook needs CFP_NOTIFY_WEBHOOK_URL")
        if self.channel == "smtp" and not (self.smtp_to and self.smtp_from):
            raise ValueError("CFP_NOTIFY_CHANNEL=smtp needs CFP_NOTIFY_SMTP_FROM and CFP_NOTIFY_SMTP_TO")
        if self.channel == "smtp" and not (self.smtp_host or self.smtp_conn_id):
            raise ValueError("CFP_NOTIFY_CHANNEL=smtp needs CFP_NOTIFY_SMTP_HOST or CFP_NOTIFY_SMTP_CONN_ID")
        return self


class HealthSettings(TypedSettings):
    """Thresholds of the ``pipeline_health`` checks (docs/observability.md, "Health checks")."""

    settings_group: ClassVar[str] = "health"
    env_prefix: ClassVar[str] = "CFP_HEALTH_"

    # Off by default: a deployment without the sidecar (polling only) receives no webhooks,
    # and silence there is normal.
    webhooks_expected: Flag = False
    # Checkout.com sends an event for every payment change: on a live account 30 minutes
    # without one means the endpoint, the sidecar or the subscription is broken.
    webhook_silence: Duration = timedelta(minutes=30)
    # checkout_ingest runs hourly and every cursor moves on each run: two missed runs.
    ingestion_lag: Duration = timedelta(hours=2)
    # The cursors (sync_watermarks.source) the lag check reads; empty: every cursor there is.
    ingestion_sources: TextList = ()
    # checkout_events drains the store every few minutes.
    backlog_count: PositiveInt = 1000
    backlog_age: Duration = timedelta(minutes=15)
    # Unacknowledged poison events above this count alert; any growth since the last check warns.
    poison_max: NonNegativeInt = 0
    # A refund/void/capture still "sending" this long after its attempt may or may not have
    # moved money: the next run resolves it within minutes, an hour means it cannot.
    in_doubt_age: Duration = timedelta(hours=1)
    # Open ingestion quarantine items: any warns, more than this alerts.
    quarantine_max: NonNegativeInt = 10
