"""Sending a notification (a task failure, a health alert) through the configured channel.

Channels (``CFP_NOTIFY_CHANNEL``): ``none`` (the warehouse row is the record), ``smtp`` (stdlib
:mod:`smtplib`) or ``webhook`` (a JSON POST, signed with HMAC-SHA256 when a secret is set). The
caller decides what a failure to notify means; for a task failure it never hides the failure
itself (failures.py records it as ``notify_error``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any

import requests

from checkout_freshportal.http.retry import BackoffPolicy
from checkout_freshportal.logsafe import safe

from .settings import NotifySettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CFP-Signature"
TIMESTAMP_HEADER = "X-CFP-Timestamp"
#: Waits between webhook attempts: short, the caller is a failing task's callback.
BACKOFF = BackoffPolicy(base=0.5, cap=5.0)


class NotifyError(Exception):
    """The notification could not be delivered; the message names the channel and why (masked)."""


@dataclass(frozen=True)
class Notification:
    """What is sent: a subject and text for e-mail, a JSON document for the webhook."""

    subject: str
    text: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class SmtpTarget:
    """Where e-mail goes; from the settings, or from an Airflow connection (the plugin's)."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> SmtpTarget:
        if not settings.smtp_host:
            raise NotifyError(
                "smtp: no host (CFP_NOTIFY_SMTP_HOST or the connection CFP_NOTIFY_SMTP_CONN_ID)"
            )
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    def overridden(self, **values: Any) -> SmtpTarget:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``<timestamp>.<body>``: the receiver recomputes it and compares; the
    timestamp inside the signature lets it refuse a replayed old message."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send(
    notification: Notification,
    settings: NotifySettings,
    *,
    smtp: SmtpTarget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Deliver through ``settings.channel``; returns the channel, raises :class:`NotifyError`."""
    if settings.channel == "none":
        return "none"
    if settings.channel == "webhook":
        _post(notification, settings, sleep=sleep)
        return "webhook"
    _mail(notification, settings, smtp or SmtpTarget.from_settings(settings))
    return "smtp"


def _mail(notification: Notification, settings: NotifySettings, target: SmtpTarget) -> None:
    msg = EmailMessage()
    msg["Subject"] = notification.subject
    msg["From"] = settings.smtp_from or ""
    msg["To"] = ", ".join(settings.smtp_to)
    msg.set_content(notification.text)
    timeout = settings.timeout.total_seconds()
    try:
        with smtplib.SMTP(target.host, target.port, timeout=timeout) as client:
            if target.starttls:
                client.starttls(context=ssl.create_default_context())
            if target.user:
                client.login(target.user, target.password or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise NotifyError(
            f"smtp {target.host}:{target.port}: {type(exc).__name__}: {safe(exc, 300)}"
        ) from None


def _post(notification: Notification, settings: NotifySettings, *, sleep: Callable[[float], None]) -> None:
    assert settings.webhook_url is not None  # NotifySettings refuses a webhook channel without it
    body = json.dumps(notification.payload, ensure_ascii=False, default=str).encode()
    attempts = settings.retries + 1
    error = ""
    for attempt in range(1, attempts + 1):
        headers = {"Content-Type": "application/json", "User-Agent": "checkout-freshportal-notify"}
        if settings.webhook_secret:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(settings.webhook_secret, stamp, body)
        try:
            resp = requests.post(
                settings.webhook_url,
                data=body,
                headers=headers,
                timeout=settings.timeout.total_seconds(),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}"
        else:
            if 200 <= resp.status_code < 300:
                return
            error = f"HTTP {resp.status_code}"
            if resp.status_code != 429 and resp.status_code < 500:
                break  # the receiver refused this message: sending it again changes nothing
        if attempt < attempts:
            sleep(BACKOFF.delay(attempt))
    raise NotifyError(f"webhook: {error} after {attempt} attempt(s)")
