"""The reconciliation and report settings groups behave like every other group (docs/settings.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.reports.settings import ReportSettings
from checkout_freshportal.settings_base import NOT_SETTINGS, SettingsError

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("cls", [ReconcileSettings, ReportSettings])
def test_a_typo_in_a_variable_is_refused(cls: type[ReconcileSettings]) -> None:
    with pytest.raises(SettingsError, match=f"unknown {cls.settings_group} setting"):
        cls.from_env({f"{cls.env_prefix}OUT_DIRR": "x", f"{cls.env_prefix}PAYMENT_DUE_DAYZ": "1"})


def test_the_schedule_is_read_by_the_dag_not_a_setting() -> None:
    assert "CFP_RECON_SCHEDULE" in NOT_SETTINGS["CFP_RECON_"]
    env = {"CFP_RECON_SCHEDULE": "none", "CFP_RECON_PAYMENT_DUE_DAYS": "5", "CFP_RECON_NOTES": "off"}
    assert ReconcileSettings.from_env(env) == ReconcileSettings(payment_due=timedelta(days=5), notes=False)


def test_documented() -> None:
    table = (DOCS / "settings.md").read_text(encoding="utf-8")
    runbook = (DOCS / "runbook-reconciliation.md").read_text(encoding="utf-8")
    for cls in (ReconcileSettings, ReportSettings):
        assert f"`{cls.settings_group}` | `" in table
        assert f"`{cls.env_prefix}`" in table
    for name in ReconcileSettings.model_fields:
        assert f"`{name}`" in runbook, name
    for name in ReportSettings.model_fields:
        assert f"`{name}`" in runbook, name
