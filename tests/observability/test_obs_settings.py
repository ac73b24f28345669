"""The observability settings groups behave like every other group and are all documented."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from checkout_freshportal.observability.settings import HealthSettings, LogSettings, NotifySettings
from checkout_freshportal.settings_base import NOT_SETTINGS, SettingsError

DOCS = Path(__file__).resolve().parents[2] / "docs"
GROUPS = [LogSettings, NotifySettings, HealthSettings]


@pytest.mark.parametrize("cls", GROUPS)
def test_a_typo_in_a_variable_is_refused(cls: type[HealthSettings]) -> None:
    with pytest.raises(SettingsError, match=f"unknown {cls.settings_group} setting"):
        cls.from_env({f"{cls.env_prefix}FORMATT": "x"})


def test_the_health_schedule_is_read_by_the_dag_not_a_setting() -> None:
    assert "CFP_HEALTH_SCHEDULE" in NOT_SETTINGS["CFP_HEALTH_"]
    env = {"CFP_HEALTH_SCHEDULE": "none", "CFP_HEALTH_BACKLOG_AGE_MINUTES": "5"}
    assert HealthSettings.from_env(env).backlog_age == timedelta(minutes=5)


def test_secrets_stay_out_of_repr_and_errors() -> None:
    s = NotifySettings.from_env(
        {
            "CFP_NOTIFY_CHANNEL": "webhook",
            "CFP_NOTIFY_WEBHOOK_URL": "http://h/x",
            "CFP_NOTIFY_WEBHOOK_SECRET": "topsecret",
        }
    )
    assert "topsecret" not in repr(s)


@pytest.mark.parametrize("cls", GROUPS)
def test_every_variable_is_documented(cls: type[HealthSettings]) -> None:
    settings_md = (DOCS / "settings.md").read_text(encoding="utf-8")
    observability_md = (DOCS / "observability.md").read_text(encoding="utf-8")
    assert f"`{cls.settings_group}` | `" in settings_md
    for field in cls.model_fields:
        name = cls.env_name(field)
        assert f"`{name}`" in observability_md, name
        short = name.rsplit("_", 1)
        assert f"`{name}`" in settings_md or f"/ `_{short[1]}`" in settings_md, name
