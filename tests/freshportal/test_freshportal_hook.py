"""FreshPortalHook: Connection -> FreshPortalSettings, read from AIRFLOW_CONN_* env vars."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

from checkout_freshportal.freshportal import FreshPortalClient, SettingsError  # noqa: E402

from freshportal_hook import FreshPortalHook, settings_kwargs_from_connection  # noqa: E402


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "freshportal", **fields}))


def test_hook_builds_a_working_client_for_the_sandbox(monkeypatch, sandbox) -> None:
    _set_conn(
        monkeypatch,
        "freshportal_default",
        host=sandbox.base_url,
        password=sandbox.api_key,
        extra={"page_size": 9, "max_retries": 2, "timeout": [3, 20]},
    )
    hook = FreshPortalHook()
    client = hook.get_conn()
    assert isinstance(client, FreshPortalClient)
    assert hook.get_conn() is client
    s = client.settings
    assert s.api_base_url == sandbox.base_url + "/"
    assert (s.page_size, s.max_retries, s.timeout) == (9, 2, (3.0, 20.0))
    assert len(list(client.iter_orders_changed(None))) == 40
    assert hook.test_connection() == (True, "Authenticated")
    assert sandbox.api_key not in repr(s)


def test_hook_tenant_only_connection(monkeypatch) -> None:
    _set_conn(monkeypatch, "fp_live", password="live-key-123", extra={"tenant": "FP042100"})
    settings = FreshPortalHook(freshportal_conn_id="fp_live").get_settings()
    assert settings.api_base_url == "https://fp042100-api.freshportal.com/"
    assert settings.tenant == "fp042100"


def test_hook_test_connection_reports_a_refused_key(monkeypatch, sandbox) -> None:
    _set_conn(monkeypatch, "freshportal_default", host=sandbox.base_url, password="not-the-key")
    ok, message = FreshPortalHook().test_connection()
    assert not ok
    assert "401" in message
    assert "not-the-key" not in message


@pytest.mark.parametrize(
    ("host", "password", "extra", "message"),
    [
        (None, "k", {}, "host .* or extra.tenant"),
        ("http://127.0.0.1:8200", None, {}, "API key"),
        ("http://127.0.0.1:8200", "k", {"tenantt": "x"}, "unknown extra"),
        ("http://127.0.0.1:8200", "k", "{bad", "not valid JSON"),
    ],
)
def test_connection_errors_are_clear(host, password, extra, message) -> None:
    with pytest.raises(ValueError, match=message):
        settings_kwargs_from_connection(host, password, extra)


def test_host_without_scheme_uses_schema_and_port() -> None:
    kw = settings_kwargs_from_connection("127.0.0.1", "k", None, schema="http", port=8200)
    assert kw["base_url"] == "http://127.0.0.1:8200"
    assert kw["api_key"] == "k"


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("page_size", True, "must be an int (a whole number, positive (>= 1)), got True"),
        ("page_size", 0, "must be positive (>= 1), got 0"),
        ("max_export_bytes", "nan", "must be an int"),
        ("max_export_bytes", -5, "must be positive (>= 1), got -5"),
        ("max_retries", "lots", "must be an int (a whole number, not negative), got 'lots'"),
        ("backoff_base", "inf", "must be a float number of seconds"),
        ("timeout", True, "must be a float number of seconds"),
    ],
)
def test_bad_numeric_extras_are_refused_like_any_setting(key: str, value: object, allowed: str) -> None:
    with pytest.raises(SettingsError) as info:
        settings_kwargs_from_connection("http://127.0.0.1:8200", "secret-api-key", {key: value}, conn_id="fp")
    message = str(info.value)
    assert message.startswith(f"Connection 'fp': extra.{key} ")
    assert allowed in message
    assert "secret-api-key" not in message


def test_numeric_extras_read_as_the_settings_kinds_read_them() -> None:
    extra = {"page_size": "1e2", "max_export_bytes": 1024.0, "max_retries": "0", "timeout": "PT20S"}
    kw = settings_kwargs_from_connection("http://127.0.0.1:8200", "k", extra)
    assert (kw["page_size"], kw["max_export_bytes"], kw["max_retries"], kw["timeout"]) == (100, 1024, 0, 20.0)
