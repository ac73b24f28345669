"""Settings from the environment: clear errors, no secret in repr (metrics: test_sidecar_metrics.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from checkout_freshportal.sidecar.cli import add_sidecar_parser
from checkout_freshportal.sidecar.orphans import SUPERVISOR_PID_ENV
from checkout_freshportal.sidecar.settings import SidecarSettings, SidecarSettingsError

ENV = {
    "CFP_WAREHOUSE_URL": "sqlite:////tmp/x.sqlite",
    "CFP_SIDECAR_SIGNATURE_KEYS": "old-key-1, new-key-2,",
    "CFP_SIDECAR_AUTHORIZATION": "auth-secret",
    "CFP_AIRFLOW_URL": "http://127.0.0.1:8080/",
    "CFP_AIRFLOW_USER": "webhook",
    "CFP_AIRFLOW_PASSWORD": "af-password",
    "CFP_SIDECAR_TRIGGER_DELAY": "2.5",
    "CFP_SIDECAR_WRITERS": "3",
}


def test_from_env_reads_everything_and_hides_secrets() -> None:
    s = SidecarSettings.from_env(ENV)
    assert s.signature_keys == (b"old-key-1", b"new-key-2")
    assert s.authorization == ("auth-secret",)
    assert s.airflow_url == "http://127.0.0.1:8080"
    assert (s.trigger_delay, s.writers, s.max_body_bytes, s.dag_id) == (2.5, 3, 1 << 20, "checkout_events")
    text = repr(s)
    for secret in ("old-key-1", "new-key-2", "auth-secret", "af-password"):
        assert secret not in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CFP_SIDECAR_SIGNATURE_KEYS": None}, "CFP_SIDECAR_SIGNATURE_KEYS"),
        ({"CFP_SIDECAR_SIGNATURE_KEYS": " , "}, "CFP_SIDECAR_SIGNATURE_KEYS"),
        ({"CFP_AIRFLOW_PASSWORD": None}, "CFP_AIRFLOW_PASSWORD"),
        ({"CFP_AIRFLOW_URL": None, "CFP_AIRFLOW_USER": None}, "CFP_AIRFLOW_URL, CFP_AIRFLOW_USER"),
        ({"CFP_SIDECAR_TRIGGER_DELAY": "soon"}, "CFP_SIDECAR_TRIGGER_DELAY must be a float"),
        ({"CFP_SIDECAR_TRIGGER_DELAY": "-1"}, "must not be negative"),
        ({"CFP_SIDECAR_TRIGGER_ENABLED": "maybe"}, "CFP_SIDECAR_TRIGGER_ENABLED"),
    ],
)
def test_missing_or_invalid_settings_name_the_variable(change: dict, message: str) -> None:
    env = {k: v for k, v in {**ENV, **change}.items() if v is not None}
    with pytest.raises(SidecarSettingsError, match=message) as err:
        SidecarSettings.from_env(env)
    assert "af-password" not in str(err.value)
    assert "old-key-1" not in str(err.value)


def test_trigger_can_be_disabled_without_airflow_settings() -> None:
    env = {
        "CFP_WAREHOUSE_URL": "sqlite:////tmp/from-mapping.sqlite",
        "CFP_SIDECAR_SIGNATURE_KEYS": "k",
        "CFP_SIDECAR_TRIGGER_ENABLED": "false",
    }
    s = SidecarSettings.from_env(env)
    assert not s.trigger_enabled
    assert s.warehouse_url == "sqlite:////tmp/from-mapping.sqlite"


def test_an_explicit_env_never_falls_back_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warehouse comes from the mapping given, like every other variable, or nowhere."""
    monkeypatch.setenv("CFP_WAREHOUSE_URL", "sqlite:////tmp/from-process.sqlite")
    env = {"CFP_SIDECAR_SIGNATURE_KEYS": "k", "CFP_SIDECAR_TRIGGER_ENABLED": "false"}
    with pytest.raises(SidecarSettingsError, match="CFP_WAREHOUSE_URL is required") as err:
        SidecarSettings.from_env(env)
    assert "from-process" not in str(err.value)
    # Without a mapping, the process environment is the one read.
    monkeypatch.setenv("CFP_SIDECAR_SIGNATURE_KEYS", "k")
    monkeypatch.setenv("CFP_SIDECAR_TRIGGER_ENABLED", "false")
    assert SidecarSettings.from_env().warehouse_url == "sqlite:////tmp/from-process.sqlite"


@pytest.mark.parametrize(
    "name", ["CFP_SIDECAR_BOGUS", "CFP_SIDECAR_WRITER", "CFP_SIDECAR_TRIGGER_DELAY_SECONDS"]
)
def test_unknown_sidecar_variable_is_refused_naming_it_and_the_known_ones(name: str) -> None:
    with pytest.raises(SidecarSettingsError) as err:
        SidecarSettings.from_env({**ENV, name: "secret-typo-value"})
    message = str(err.value)
    assert f"unknown sidecar setting(s): {name} (known variables: " in message
    assert "CFP_SIDECAR_WRITERS" in message
    assert "CFP_WAREHOUSE_URL" in message
    assert "secret-typo-value" not in message  # the value of a mistyped secret is never echoed
    assert "(environment)" in message


def test_documented_sidecar_variables_that_are_not_settings_are_accepted(tmp_path: Path) -> None:
    """``cfp sidecar serve --workers N`` exports the supervisor pid to the very workers that load settings."""
    settings_file = tmp_path / "sidecar.yaml"
    settings_file.write_text("writers: 4\n", encoding="utf-8")
    env = {**ENV, SUPERVISOR_PID_ENV: "1", "CFP_SIDECAR_SETTINGS_FILE": str(settings_file)}
    assert SidecarSettings.from_env(env).writers == 3  # the environment wins over the file


def test_no_warehouse_anywhere_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CFP_WAREHOUSE_URL", raising=False)
    env = {"CFP_SIDECAR_SIGNATURE_KEYS": "k", "CFP_SIDECAR_TRIGGER_ENABLED": "false"}
    with pytest.raises(ValueError, match="CFP_WAREHOUSE_URL") as err:
        SidecarSettings.from_env(env)
    assert getattr(err.value, "permanent", False) is True


def test_cli_registration() -> None:
    parser = argparse.ArgumentParser(prog="cfp")
    add_sidecar_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sidecar", "serve", "--port", "9000", "--workers", "2"])
    assert (args.host, args.port, args.workers, args.no_upgrade) == ("127.0.0.1", 9000, 2, False)
    assert args.func.__name__ == "run_serve"
    args = parser.parse_args(["sidecar", "poison", "--preview", "--ack", "evt_1", "evt_2"])
    assert args.ack == ["evt_1", "evt_2"]
    assert args.func.__name__ == "run_poison"
