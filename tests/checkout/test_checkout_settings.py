"""CheckoutSettings: validation, URL building and secret hygiene (pure, no network)."""

from __future__ import annotations

import pytest

from checkout_freshportal.checkout import CheckoutSettings, SettingsError
from checkout_freshportal.checkout.settings import validate_secret_key

SBOX_KEY = "sk_sbox_" + "m" * 26 + "q"
LIVE_KEY = "sk_" + "abcdefghijklmnopqrstuvwxyz" + "7"


def test_sandbox_default_urls() -> None:
    s = CheckoutSettings(secret_key=SBOX_KEY)
    assert s.auth_mode == "secret_key"
    assert s.api_base_url == "https://api.sandbox.checkout.com/"
    assert s.oauth_token_url == "https://access.sandbox.checkout.com/connect/token"
    assert s.timeout == (5.0, 60.0)
    assert (s.read_rps, s.write_rps, s.max_retries) == (80, 80, 5)


def test_production_with_account_prefix() -> None:
    s = CheckoutSettings(environment="production", account_prefix="vkuhvk4v", secret_key=LIVE_KEY)
    assert s.api_base_url == "https://vkuhvk4v.api.checkout.com/"
    assert s.oauth_token_url == "https://vkuhvk4v.access.checkout.com/connect/token"


def test_pl_prefix_is_accepted() -> None:
    s = CheckoutSettings(account_prefix="pl-abc123", secret_key=SBOX_KEY)
    assert s.api_base_url == "https://pl-abc123.api.sandbox.checkout.com/"


@pytest.mark.parametrize("prefix", ["VKUH", "abc.def", "abc/", "", "pl_", "a b"])
def test_bad_account_prefix(prefix: str) -> None:
    with pytest.raises(SettingsError, match="account_prefix"):
        CheckoutSettings(account_prefix=prefix, secret_key=SBOX_KEY)


def test_explicit_base_url_wins_and_derives_token_url() -> None:
    s = CheckoutSettings(
        base_url="http://127.0.0.1:8100/", client_id="ack_x", client_secret="s3cret", scopes=["gateway"]
    )
    assert s.api_base_url == "http://127.0.0.1:8100/"
    assert s.oauth_token_url == "http://127.0.0.1:8100/connect/token"
    assert s.scopes == ("gateway",)
    assert s.auth_mode == "oauth"
    with_path = CheckoutSettings(base_url="http://h:1/api", secret_key=SBOX_KEY)
    assert with_path.api_base_url == "http://h:1/api/"


def test_token_url_override() -> None:
    s = CheckoutSettings(client_id="ack_x", client_secret="y", token_url="http://127.0.0.1:9/connect/token")
    assert s.oauth_token_url == "http://127.0.0.1:9/connect/token"


def test_scopes_from_space_separated_string() -> None:
    s = CheckoutSettings(client_id="ack_x", client_secret="y", scopes="gateway reports:view")
    assert s.scopes == ("gateway", "reports:view")


@pytest.mark.parametrize(
    "key",
    [
        "pk_sbox_" + "m" * 27,  # public key
        "sk_test_12345678-1234-1234-1234-123456789012",  # ABC platform
        "sk_sbox_" + "m" * 26,  # too short
        "sk_sbox_" + "M" * 27,  # upper case
        "sk_sbox_" + "1" * 27,  # digits outside base32
        " " + SBOX_KEY,  # whitespace
        "Bearer " + SBOX_KEY,
    ],
)
def test_bad_secret_key_never_echoed(key: str) -> None:
    with pytest.raises(SettingsError) as info:
        CheckoutSettings(secret_key=key, base_url="http://localhost:1")
    text = str(info.value)
    assert "format" in text
    assert key.strip() not in text
    assert "m" * 20 not in text
    assert "1234-1234" not in text


def test_key_format_edge_characters() -> None:
    for last in "*#$=a7":
        validate_secret_key("sk_sbox_" + "a" * 26 + last)
        validate_secret_key("sk_" + "a" * 26 + last)


def test_sandbox_key_on_production_is_refused_without_echo() -> None:
    with pytest.raises(SettingsError, match="sandbox key but environment is 'production'") as info:
        CheckoutSettings(environment="production", secret_key=SBOX_KEY)
    assert SBOX_KEY not in str(info.value)
    with pytest.raises(SettingsError, match="production key"):
        CheckoutSettings(environment="sandbox", secret_key=LIVE_KEY)
    # An explicit base URL (local simulator, proxy) skips the environment check.
    CheckoutSettings(base_url="http://127.0.0.1:8100", secret_key=LIVE_KEY)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"secret_key": SBOX_KEY, "client_id": "ack_x", "client_secret": "y"},
        {"client_id": "ack_x"},
        {"client_secret": "y"},
    ],
)
def test_exactly_one_auth_mode(kwargs: dict) -> None:
    with pytest.raises(SettingsError):
        CheckoutSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"environment": "staging"}, "environment"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "http://x/?a=1"}, "query"),
        ({"timeout": (0, 60)}, "timeouts"),
        ({"timeout": "fast"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"read_rps": -5}, "read_rps"),
        ({"backoff_base": -1}, "backoff"),
        ({"user_agent": "a\r\nX-Evil: 1"}, "user_agent"),
    ],
)
def test_other_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        CheckoutSettings(secret_key=SBOX_KEY, **kwargs)


def test_timeout_normalisation() -> None:
    assert CheckoutSettings(secret_key=SBOX_KEY, timeout=[3, 30]).timeout == (3.0, 30.0)  # type: ignore[arg-type]
    assert CheckoutSettings(secret_key=SBOX_KEY, timeout=10).timeout == (10.0, 10.0)  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    s = CheckoutSettings(secret_key=SBOX_KEY)
    o = CheckoutSettings(client_id="ack_visible", client_secret="very-secret-value")
    assert SBOX_KEY not in repr(s)
    assert "sk_" not in repr(s)
    assert "very-secret-value" not in repr(o)
    assert "ack_visible" in repr(o)


def test_settings_are_frozen() -> None:
    s = CheckoutSettings(secret_key=SBOX_KEY)
    with pytest.raises(AttributeError):
        s.read_rps = 1  # type: ignore[misc]
