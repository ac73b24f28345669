"""Authentication: secret keys, OAuth client credentials, token expiry, scopes, headers."""

from __future__ import annotations

import base64
import uuid

import requests

from cfp_dev.sandbox.checkout import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET

from .conftest import make_session


def _token(base: str, scope: str | None = None, basic: bool = False) -> requests.Response:
    form = {"grant_type": "client_credentials"}
    headers = {}
    if scope:
        form["scope"] = scope
    if basic:
        raw = f"{DEFAULT_OAUTH_CLIENT_ID}:{DEFAULT_OAUTH_CLIENT_SECRET}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        form.update(client_id=DEFAULT_OAUTH_CLIENT_ID, client_secret=DEFAULT_OAUTH_CLIENT_SECRET)
    return requests.post(f"{base}/connect/token", data=form, headers=headers)


def test_secret_key_works_and_every_response_has_cko_headers(shared_sandbox, api) -> None:
    base = shared_sandbox.base_url
    pid = shared_sandbox.world.payment_list[0].id
    r = api.get(f"{base}/payments/{pid}")
    assert r.status_code == 200
    uuid.UUID(r.headers["Cko-Request-Id"])
    assert r.headers["Cko-Version"]
    r404 = api.get(f"{base}/payments/pay_doesnotexistdoesnotexist00")
    assert r404.status_code == 404
    assert r404.content == b""
    assert r404.headers["Cko-Request-Id"] != r.headers["Cko-Request-Id"]


def test_bad_credentials_are_401_with_empty_body(shared_sandbox) -> None:
    url = f"{shared_sandbox.base_url}/payments/{shared_sandbox.world.payment_list[0].id}"
    cases = [
        {},
        {"Authorization": "Bearer sk_sbox_short"},
        {"Authorization": "Bearer sk_sbox_" + "a" * 26 + "b"},  # well-formed but not configured
        {"Authorization": "sk_sbox_fre5hp2rta7sandb2xkeyf2rdem"},  # ABC style, no Bearer
        {"Authorization": "Bearer not-a-token"},
    ]
    for headers in cases:
        r = requests.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert r.content == b""
        assert "Cko-Request-Id" in r.headers


def test_oauth_token_form_and_basic(shared_sandbox) -> None:
    base = shared_sandbox.base_url
    for basic in (False, True):
        r = _token(base, basic=basic)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert "gateway" in body["scope"].split()
        s = make_session(body["access_token"])
        assert s.get(f"{base}/payments/{shared_sandbox.world.payment_list[0].id}").status_code == 200
    bad = requests.post(
        f"{base}/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_OAUTH_CLIENT_ID,
            "client_secret": "wrong",
        },
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_client"}
    assert _token(base, scope="gateway no-such-scope").json() == {"error": "invalid_scope"}


def test_scopes_are_enforced_per_endpoint(shared_sandbox) -> None:
    base = shared_sandbox.base_url
    tok = _token(base, scope="disputes:view").json()["access_token"]
    s = make_session(tok)
    assert s.get(f"{base}/disputes").status_code == 200
    r = s.get(f"{base}/payments/{shared_sandbox.world.payment_list[0].id}")
    assert r.status_code == 401
    assert r.content == b""
    assert s.get(f"{base}/reports").status_code == 401
    # payment links take the secret key only, even with every scope
    full = make_session(_token(base).json()["access_token"])
    link = {"amount": 100, "currency": "EUR", "billing": {"address": {"country": "NL"}}}
    assert full.post(f"{base}/payment-links", json=link).status_code == 401
    assert make_session().post(f"{base}/payment-links", json=link).status_code == 201


def test_expired_token_is_401(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, token_ttl_seconds=60)
    tok = _token(sb.base_url).json()["access_token"]
    s = make_session(tok)
    assert s.get(f"{sb.base_url}/disputes").status_code == 200
    # token lifetimes age with /_sandbox/advance: 61 s pass without waiting for them
    advance = {"hours": 61 / 3600, "payments_per_hour": 0}
    assert requests.post(f"{sb.base_url}/_sandbox/advance", json=advance).status_code == 200
    r = s.get(f"{sb.base_url}/disputes")
    assert r.status_code == 401
    assert r.content == b""


# ------------------------------------------------------------------ credentials of the user's choosing
CUSTOM_KEY = "sk_sbox_m2y5ecretkeyf2rthesandb2xqz"
CUSTOM_CLIENT = ("ack_myownclientidforthesandbox", "my-own-client-secret")


def test_custom_secret_key_replaces_the_default(sandbox_factory) -> None:
    sb = sandbox_factory(days=1, payments_per_day=5, secret_keys=[CUSTOM_KEY])
    pid = sb.world.payment_list[0].id
    assert make_session(CUSTOM_KEY).get(f"{sb.base_url}/payments/{pid}").status_code == 200
    r = make_session().get(f"{sb.base_url}/payments/{pid}")  # the default key
    assert r.status_code == 401
    assert r.content == b""


def test_custom_oauth_client_gets_a_token_and_the_default_one_does_not(sandbox_factory) -> None:
    from cfp_dev.sandbox.checkout.config import oauth_client

    sb = sandbox_factory(days=0, oauth_clients=oauth_client(*CUSTOM_CLIENT))
    form = {
        "grant_type": "client_credentials",
        "client_id": CUSTOM_CLIENT[0],
        "client_secret": CUSTOM_CLIENT[1],
    }
    r = requests.post(f"{sb.base_url}/connect/token", data=form)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = requests.get(f"{sb.base_url}/workflows", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    default = {**form, "client_id": DEFAULT_OAUTH_CLIENT_ID, "client_secret": DEFAULT_OAUTH_CLIENT_SECRET}
    r = requests.post(f"{sb.base_url}/connect/token", data=default)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_client"}


def test_cli_key_options_build_the_config() -> None:
    import argparse

    import pytest

    from cfp_dev.sandbox.checkout import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY
    from cfp_dev.sandbox.cli import add_checkout_parser, config_from_args

    parser = argparse.ArgumentParser()
    add_checkout_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            *("checkout", "--secret-key", CUSTOM_KEY, "--public-key", "pk_sbox_" + "q" * 27),
            *("--oauth-client-id", CUSTOM_CLIENT[0], "--oauth-client-secret", CUSTOM_CLIENT[1]),
            *("--timestamp-style", "offset_ms", "--days", "0"),
        ]
    )
    config = config_from_args(args)
    assert config.secret_keys == [CUSTOM_KEY]
    assert config.public_keys == ["pk_sbox_" + "q" * 27]
    assert config.oauth_clients[CUSTOM_CLIENT[0]]["secret"] == CUSTOM_CLIENT[1]
    assert list(config.oauth_clients) == [CUSTOM_CLIENT[0]]
    assert config.timestamp_style == "offset_ms"
    defaults = config_from_args(parser.parse_args(["checkout", "--days", "0"]))
    assert defaults.secret_keys == [DEFAULT_SECRET_KEY]
    assert defaults.public_keys == [DEFAULT_PUBLIC_KEY]
    assert list(defaults.oauth_clients) == [DEFAULT_OAUTH_CLIENT_ID]
    assert defaults.timestamp_style == "mixed"
    bad_options = {
        "secret key": ["--secret-key", "sk_sbox_short"],
        "--oauth-client-secret": ["--oauth-client-id", "ack_x"],
        "public key": ["--public-key", "pk_x"],
    }
    for message, bad in bad_options.items():
        with pytest.raises(ValueError, match=message):
            config_from_args(parser.parse_args(["checkout", "--days", "0", *bad]))
