"""FreshPortalHook: Connection -> FreshPortalSettings, read from AIRFLOW_CONN_* env vars."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

from checkout_freshportal.freshportal import FreshPortalClient  # noqa: E402

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
