"""Authentication: secret keys, OAuth client credentials, token expiry, scopes, headers."""

from __future__ import annotations

import base64
import time
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
    sb = sandbox_factory(days=0, token_ttl_seconds=1)
    tok = _token(sb.base_url).json()["access_token"]
    s = make_session(tok)
    assert s.get(f"{sb.base_url}/disputes").status_code == 200
    time.sleep(1.1)
    r = s.get(f"{sb.base_url}/disputes")
    assert r.status_code == 401
    assert r.content == b""
