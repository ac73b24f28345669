"""CheckoutHook: the Connection -> CheckoutSettings mapping, read from AIRFLOW_CONN_* env vars."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

from checkout_freshportal.checkout import CheckoutClient, SettingsError  # noqa: E402

from checkout_hook import CheckoutHook, settings_kwargs_from_connection  # noqa: E402

KEY = "sk_sbox_" + "m" * 26 + "q"


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "checkout", **fields}))


def test_secret_key_connection_with_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "checkout_default",
        host="http://127.0.0.1:8100",
        password=KEY,
        extra={"read_rps": 20, "write_rps": "10", "timeout": [3, 30], "max_retries": 2},
    )
    hook = CheckoutHook()
    client = hook.get_conn()
    assert isinstance(client, CheckoutClient)
    assert hook.get_conn() is client  # cached per hook
    s = client.settings
    assert s.api_base_url == "http://127.0.0.1:8100/"
    assert s.auth_mode == "secret_key"
    assert s.secret_key == KEY
    assert (s.read_rps, s.write_rps, s.max_retries, s.timeout) == (20, 10, 2, (3.0, 30.0))


def test_oauth_connection_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "cko_live",
        login="ack_abc",
        password="client-secret",
        extra={
            "auth": "oauth",
            "environment": "production",
            "account_prefix": "vkuhvk4v",
            "scopes": ["gateway", "reports:view"],
        },
    )
    s = CheckoutHook(checkout_conn_id="cko_live").get_settings()
    assert s.auth_mode == "oauth"
    assert (s.client_id, s.client_secret) == ("ack_abc", "client-secret")
    assert s.scopes == ("gateway", "reports:view")
    assert s.api_base_url == "https://vkuhvk4v.api.checkout.com/"
    assert s.oauth_token_url == "https://vkuhvk4v.access.checkout.com/connect/token"
    assert "client-secret" not in repr(s)


def test_oauth_against_local_sandbox_token_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "checkout_default",
        host="http://127.0.0.1:8100",
        login="ack_abc",
        password="x",
        extra={"scopes": "gateway payments:search"},
    )
    s = CheckoutHook().get_settings()
    assert s.oauth_token_url == "http://127.0.0.1:8100/connect/token"
    assert s.scopes == ("gateway", "payments:search")


def test_bad_key_in_connection_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "checkout_default", password="sk_sbox_definitely-wrong-value")
    with pytest.raises(SettingsError) as info:
        CheckoutHook().get_conn()
    assert "definitely-wrong-value" not in str(info.value)


def test_mapping_errors() -> None:
    with pytest.raises(ValueError, match="unknown extra"):
        settings_kwargs_from_connection(None, None, KEY, {"readrps": 1})
    with pytest.raises(ValueError, match="secret key"):
        settings_kwargs_from_connection(None, None, None, {})
    with pytest.raises(ValueError, match="OAuth needs"):
        settings_kwargs_from_connection(None, None, "x", {"auth": "oauth"})
    with pytest.raises(ValueError, match="not valid JSON"):
        settings_kwargs_from_connection(None, None, KEY, "{nope")


def test_uri_style_host_port() -> None:
    kw = settings_kwargs_from_connection("127.0.0.1", None, KEY, None, schema="http", port=8100)
    assert kw["base_url"] == "http://127.0.0.1:8100"
    kw = settings_kwargs_from_connection("sandbox.internal", None, KEY, None, schema="db")
    assert kw["base_url"] == "https://sandbox.internal"


def test_hook_metadata() -> None:
    assert CheckoutHook.conn_name_attr == "checkout_conn_id"
    assert CheckoutHook.default_conn_name == "checkout_default"
    assert CheckoutHook.conn_type == "checkout"
    assert CheckoutHook.hook_name == "Checkout.com"
    ui = CheckoutHook.get_ui_field_behaviour()
    assert "password" in ui["relabeling"]
    json.loads(ui["placeholders"]["extra"])


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("max_retries", True, "must be an int (a whole number, not negative), got True"),
        ("max_retries", "nan", "must be an int (a whole number, not negative), got 'nan'"),
        ("read_rps", -1, "must not be negative, got -1"),
        ("write_rps", "2.5", "must be an int (a whole number, not negative), got '2.5'"),
        ("max_retries", "three", "must be an int"),
        ("backoff_base", "inf", "must be a float number of seconds or a duration"),
        ("backoff_cap", True, "must be a float number of seconds"),
        ("conflict_wait", -3, "must not be negative, got -3"),
        ("timeout", "nan", "must be a float number of seconds"),
        ("timeout", [3, "nan"], "must be a float number of seconds"),
        ("timeout", [1, 2, 3], "must be seconds or a [connect, read] pair, got 3 values"),
    ],
)
def test_bad_numeric_extras_are_refused_like_any_setting(key: str, value: object, allowed: str) -> None:
    """Extras go through the settings kinds: no int()/float() turning True into 1 or "nan" into NaN."""
    with pytest.raises(SettingsError) as info:
        settings_kwargs_from_connection(None, None, KEY, {key: value}, conn_id="cko")
    message = str(info.value)
    assert message.startswith(f"Connection 'cko': extra.{key} ")
    assert allowed in message
    assert KEY not in message


def test_numeric_extras_read_as_the_settings_kinds_read_them() -> None:
    extra = {
        "max_retries": "1e3",
        "read_rps": 2.0,
        "write_rps": " 0 ",
        "backoff_cap": "2m",
        "timeout": [3, "30"],
    }
    kw = settings_kwargs_from_connection(None, None, KEY, extra)
    assert (kw["max_retries"], kw["read_rps"], kw["write_rps"]) == (1000, 2, 0)
    assert (kw["backoff_cap"], kw["timeout"]) == (120.0, (3.0, 30.0))
    assert settings_kwargs_from_connection(None, None, KEY, {"timeout": "45"})["timeout"] == 45.0
