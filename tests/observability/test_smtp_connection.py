"""Inside Airflow, the SMTP server may come from an Airflow connection (CFP_NOTIFY_SMTP_CONN_ID):
its host, port and login override the environment's, and the message reaches that server."""

from __future__ import annotations

import json

import pytest

from checkout_freshportal.observability.notify import Notification, send
from checkout_freshportal.observability.settings import NotifySettings

from obs_helpers import smtp_receiver

pytestmark = pytest.mark.airflow


def test_the_connection_names_the_server(airflow_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from failure_callbacks import smtp_target

    with smtp_receiver() as smtp:
        monkeypatch.setenv(
            "AIRFLOW_CONN_CFP_SMTP",
            json.dumps(
                {"conn_type": "smtp", "host": smtp.host, "port": smtp.port, "extra": {"starttls": False}}
            ),
        )
        settings = NotifySettings.from_mapping(
            {
                "channel": "smtp",
                "smtp_conn_id": "cfp_smtp",
                "smtp_host": "unused.invalid",
                "smtp_from": "cfp@example.com",
                "smtp_to": "ops@example.com",
            }
        )
        target = smtp_target(settings)
        assert (target.host, target.port, target.starttls) == (smtp.host, smtp.port, False)
        assert send(Notification("via connection", "body", {}), settings, smtp=target) == "smtp"
    assert [m[2]["Subject"] for m in smtp.messages] == ["via connection"]


def test_without_a_connection_the_settings_apply() -> None:
    from failure_callbacks import smtp_target

    settings = NotifySettings.from_mapping(
        {
            "channel": "smtp",
            "smtp_host": "mail.example",
            "smtp_port": 587,
            "smtp_starttls": True,
            "smtp_from": "a@example.com",
            "smtp_to": "b@example.com",
        }
    )
    target = smtp_target(settings)
    assert (target.host, target.port, target.starttls) == ("mail.example", 587, True)
    assert smtp_target(NotifySettings.from_mapping({})) is None
