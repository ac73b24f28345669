"""The client against the real Checkout.com simulator (cfp_dev.sandbox.checkout).

Each paging style, window splitting without next links, retries under injected 429/500,
no retry on 403/404/422, idempotent replays (and a 409 in flight), OAuth token expiry, the
report download redirect without credentials, and the client-side limiter under a low limit.
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from checkout_freshportal.checkout import (
    ActionNotAllowedError,
    AuthenticationError,
    CheckoutClient,
    CheckoutSettings,
    NotFoundError,
    RateLimitedError,
    UnexpectedStatusError,
    ValidationError,
    parse_ts,
    payment_balances,
)
from checkout_freshportal.checkout.auth import AccessToken

from waiting import wait_until

MakeClient = Callable[..., CheckoutClient]
Sandbox = Any  # conftest.Sandbox: the running server plus admin helpers

CARD = {"type": "card", "number": "4242424242424242", "expiry_month": 12, "expiry_year": 2035, "cvv": "100"}


def sim_now(sandbox: Sandbox) -> datetime:
    now = parse_ts(sandbox.admin("GET", "clock")["now"])
    assert now is not None
    return now


def full_window(sandbox: Sandbox) -> tuple[datetime, datetime]:
    now = sim_now(sandbox)
    return now - timedelta(days=10), now + timedelta(minutes=1)


def truth_ids(client: CheckoutClient, lo: datetime, hi: datetime) -> set[str]:
    """All payment ids in the window from one big page (checked to be a single short page)."""
    ids = [p["id"] for p in client.search_payments(lo, hi, limit=1000)]
    assert 100 < len(ids) < 1000, "scenario too small or too large for these tests"
    assert len(ids) == len(set(ids))
    return set(ids)


def authorized_payment(client: CheckoutClient, amount: int = 1500, reference: str = "ORD-IT-1") -> dict:
    body = {"source": CARD, "amount": amount, "currency": "EUR", "reference": reference, "capture": False}
    out = client.request_payment(body)
    assert out["status"] == "Authorized", out
    return out


# ---------------------------------------------------------------------------- pagination
def test_search_follows_next_links(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client()
    lo, hi = full_window(sandbox)
    truth = truth_ids(client, lo, hi)
    client.stats.reset()
    got = [p["id"] for p in client.search_payments(lo, hi, limit=50)]
    assert len(got) == len(set(got)) == len(truth)
    assert set(got) == truth
    assert client.stats.calls[("POST", "payments.search")] == 1
    assert client.stats.calls[("GET", "payments.search")] == math.ceil(len(truth) / 50) - 1


def test_search_splits_windows_without_next_links(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client()
    lo, hi = full_window(sandbox)
    truth = truth_ids(client, lo, hi)
    sandbox.set(search_next_links=False)
    client.stats.reset()
    sandbox.reset_calls()
    got = [p["id"] for p in client.search_payments(lo, hi, limit=20)]
    assert len(got) == len(set(got))
    assert set(got) == truth
    posts = client.stats.calls[("POST", "payments.search")]
    assert posts > len(truth) / 20  # had to split
    assert ("GET", "payments.search") not in client.stats.calls
    # the client's own count matches what the server saw
    assert sandbox.calls()["calls"]["payments.search"]["POST"] == posts


def test_search_items_carry_balances(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client()
    lo, hi = full_window(sandbox)
    for payment in client.search_payments(lo, hi, limit=200):
        b = payment_balances(payment)
        assert b is not None  # the sandbox's default shape states all seven
        assert b.total_captured <= b.total_authorized
        assert b.total_refunded <= b.total_captured


def test_list_payments_by_reference_pages_with_skip(make_client: MakeClient) -> None:
    client = make_client()
    ids = {authorized_payment(client, 100 + i, reference="ORD-IT-REF-7")["id"] for i in range(5)}
    client.stats.reset()
    got = [p["id"] for p in client.list_payments_by_reference("ORD-IT-REF-7", limit=2)]
    assert len(got) == 5
    assert set(got) == ids
    assert client.stats.count("payments.list") == 3  # 2 + 2 + 1, stops on total_count
    assert list(client.list_payments_by_reference("ORD-NO-SUCH-REF")) == []


def test_list_disputes_pages_with_skip(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client()
    everything = [d["id"] for d in client.list_disputes(limit=250)]
    assert len(everything) > 3, "scenario has too few disputes"
    client.stats.reset()
    paged = [d["id"] for d in client.list_disputes(limit=2)]
    assert paged == everything  # same newest-first order, nothing lost or repeated
    assert client.stats.count("disputes.list") == math.ceil(len(everything) / 2)  # total_count ends it
    lo, hi = full_window(sandbox)
    windowed = list(client.list_disputes(lo, hi, limit=5, statuses=["won", "lost"]))
    assert all(d["status"] in {"won", "lost"} for d in windowed)


def test_financial_actions_follow_links(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client()
    lo, hi = full_window(sandbox)
    payment = next(
        p
        for p in client.search_payments(lo, hi - timedelta(days=2), limit=1000)
        if (b := payment_balances(p)) is not None and b.total_captured > 0 and b.total_refunded > 0
    )
    everything = list(client.list_financial_actions(payment_id=payment["id"], limit=100))
    assert len(everything) >= 2
    client.stats.reset()
    paged = list(client.list_financial_actions(payment_id=payment["id"], limit=1))
    assert [f["action_id"] for f in paged] == [f["action_id"] for f in everything]
    assert client.stats.count("financial_actions.list") == len(everything)


def test_reports_list_get_and_download_without_authorization(
    sandbox: Sandbox, make_client: MakeClient
) -> None:
    client = make_client()
    lo, _ = full_window(sandbox)
    reports = list(client.list_reports(lo, limit=100))
    assert len(reports) >= 3
    client.stats.reset()
    paged = list(client.list_reports(lo, limit=2))
    assert [r["id"] for r in paged] == [r["id"] for r in reports]
    assert client.stats.count("reports.list") == math.ceil(len(reports) / 2)  # no next link on the last page

    report = client.get_report(reports[0]["id"])
    file_id = report["files"][0]["id"]
    client.stats.reset()
    with client.open_report_text(report["id"], file_id) as text:
        rows = list(csv.DictReader(text))
    assert client.stats.count("reports.file") == 1
    assert client.stats.count("reports.storage") == 1
    assert 403 not in client.stats.statuses  # the storage refuses any Authorization header
    assert client.stats.retries == 0
    assert rows, "report file is empty"
    assert set(rows[0]) >= ({"Payout ID"} if report["type"] == "Payouts" else {"Action ID", "Breakdown Type"})

    # binary interface: chunks, never the whole file at once
    with client.open_report_file(report["id"], file_id) as raw:
        header = raw.readline()
        first = raw.read(64)
        rest = raw.read()
    assert header.decode("utf-8-sig").rstrip("\r\n").split(",") == list(rows[0])
    assert first
    assert (header + first + rest).decode("utf-8-sig").count("\n") >= len(rows)

    # under injected 429/500 on the API hop the download still completes, identically
    sandbox.set(fault_429_share=0.25, fault_500_share=0.25)
    faulty = make_client(max_retries=12)
    for _ in range(3):
        with faulty.open_report_text(report["id"], file_id) as text:
            assert list(csv.DictReader(text)) == rows
    assert faulty.stats.retries > 0
    sandbox.set(fault_429_share=0.0, fault_500_share=0.0)

    # control: the same signed URL *with* a bearer token is refused by the storage
    location = requests.get(
        f"{sandbox.base_url}/reports/{report['id']}/files/{file_id}",
        headers={"Authorization": f"Bearer {client.settings.secret_key}"},
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]
    assert requests.get(location, timeout=10).status_code == 200
    assert requests.get(location, headers={"Authorization": "Bearer x"}, timeout=10).status_code == 403


# ---------------------------------------------------------------------------- retries
def test_retries_under_injected_faults_still_give_complete_results(
    sandbox: Sandbox, make_client: MakeClient
) -> None:
    client = make_client(max_retries=10)
    lo, hi = full_window(sandbox)
    truth = truth_ids(client, lo, hi)
    disputes = [d["id"] for d in client.list_disputes(limit=250)]
    sandbox.set(fault_429_share=0.2, fault_500_share=0.15)
    client.stats.reset()
    got = {p["id"] for p in client.search_payments(lo, hi, limit=25)}
    assert got == truth
    assert [d["id"] for d in client.list_disputes(limit=3)] == disputes
    stats = client.stats
    assert stats.rate_limited > 0
    assert stats.statuses.get(500, 0) > 0
    assert stats.retries == stats.rate_limited + stats.statuses.get(500, 0)


def test_exhausted_retries_raise_rate_limited(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client(max_retries=2)
    sandbox.set(fault_429_share=1.0)
    with pytest.raises(RateLimitedError) as info:
        client.get_payment("pay_" + "a" * 26)
    assert info.value.request_id
    assert client.stats.count("payments.get") == 3


def test_no_retry_on_404_403_422(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(NotFoundError):
        client.get_payment("pay_" + "z" * 26)
    assert client.stats.count("payments.get") == 1

    payment = authorized_payment(client)
    with pytest.raises(ActionNotAllowedError) as forbidden:
        client.refund_payment(payment["id"], {"amount": 100})  # refund before capture
    assert forbidden.value.status == 403
    assert forbidden.value.request_id
    assert client.stats.count("payments.refund") == 1

    with pytest.raises(ValidationError) as invalid:
        client.capture_payment(payment["id"], {"amount": -5})
    assert "amount_invalid" in invalid.value.error_codes
    assert client.stats.count("payments.capture") == 1

    with pytest.raises(ValidationError):
        list(client.search_payments(*full_window(sandbox), query="amount:>>>"))

    with pytest.raises(UnexpectedStatusError) as unexpected:  # e.g. 405: raised, never swallowed
        client._request("DELETE", client._api_url(f"payments/{payment['id']}"), kind="payments.delete")
    assert unexpected.value.status == 405
    assert client.stats.count("payments.delete") == 1
    assert client.stats.retries == 0


def test_wrong_key_is_authentication_error(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client(secret_key="sk_sbox_" + "a" * 27)
    with pytest.raises(AuthenticationError) as info:
        client.get_payment("pay_x")
    assert info.value.status == 401
    assert info.value.request_id
    assert client.stats.count("payments.get") == 1


# ---------------------------------------------------------------------------- idempotency
def test_idempotent_capture_replays_same_action(make_client: MakeClient) -> None:
    client = make_client()
    payment = authorized_payment(client, 2000)
    first = client.capture_payment(payment["id"], {"amount": 500}, idempotency_key="cap-it-1")
    again = client.capture_payment(payment["id"], {"amount": 500}, idempotency_key="cap-it-1")
    assert first["action_id"] == again["action_id"]
    other = client.capture_payment(payment["id"], {"amount": 500}, idempotency_key="cap-it-2")
    assert other["action_id"] != first["action_id"]
    voided = client.request_payment(
        {"source": CARD, "amount": 700, "currency": "EUR", "capture": False}, idempotency_key="pay-it-void"
    )
    assert client.request_payment({"source": CARD}, idempotency_key="pay-it-void")["id"] == voided["id"]
    v1 = client.void_payment(voided["id"], idempotency_key="void-it-1")
    assert client.void_payment(voided["id"], idempotency_key="void-it-1")["action_id"] == v1["action_id"]


def test_concurrent_duplicate_gets_409_then_the_same_answer(
    sandbox: Sandbox, make_client: MakeClient
) -> None:
    client = make_client(conflict_wait=1.2)
    payment = authorized_payment(client, 3000)
    sandbox.set(fault_slow_share=1.0, slow_seconds=0.8)
    results: list[dict[str, Any]] = []

    def capture() -> None:
        results.append(client.capture_payment(payment["id"], {"amount": 300}, idempotency_key="cap-it-409"))

    def captures_received() -> int:
        return sandbox.calls()["calls"].get("payments.captures", {}).get("POST", 0)

    before = captures_received()
    threads = [threading.Thread(target=capture) for _ in range(2)]
    threads[0].start()
    # The sandbox counts a request and claims its idempotency key in one step of its event loop,
    # so once the first capture is counted the second one finds the key in flight.
    wait_until(lambda: captures_received() > before, 5, "the first capture to reach the sandbox")
    threads[1].start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert results[0]["action_id"] == results[1]["action_id"]
    assert client.stats.statuses.get(409, 0) >= 1


# ---------------------------------------------------------------------------- OAuth
def test_oauth_token_is_cached_and_refreshed_on_expiry(sandbox: Sandbox, make_client: MakeClient) -> None:
    sandbox.set(token_ttl_seconds=30)
    client = make_client(oauth=True, scopes=("gateway", "payments:search", "disputes:view"))
    # Both sides' clocks move 31 s at once: the client's (it caches by expires_in on its own
    # monotonic clock) and the sandbox's (advancing it ages the tokens it issued).
    client_now = [time.monotonic()]
    client._auth._clock = lambda: client_now[0]  # type: ignore[attr-defined]
    for _ in range(3):
        list(client.list_disputes(limit=250))
    assert client.stats.count("token") == 1
    first = client._auth.authorization()  # type: ignore[attr-defined]
    client_now[0] += 31
    sandbox.admin("POST", "advance", json={"hours": 31 / 3600, "payments_per_hour": 0})
    stale = requests.get(f"{sandbox.base_url}/disputes", headers={"Authorization": first}, timeout=10)
    assert stale.status_code == 401  # the sandbox expired it: a client must not reuse it
    list(client.list_disputes(limit=250))
    assert client.stats.count("token") == 2
    assert client.stats.token_refreshes == 2
    assert client.stats.statuses.get(401, 0) == 0  # refreshed before use, not after a refusal


def test_oauth_401_refreshes_once_and_repeats(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client(oauth=True)
    client.get_payment_actions(authorized_payment(make_client())["id"])
    # the server forgets/revokes the token (simulated by a token it never issued)
    client._auth._token = AccessToken("revoked-token", expires_at=time.monotonic() + 3600)  # type: ignore[attr-defined]
    client.stats.reset()
    list(client.list_disputes(limit=250))
    assert client.stats.statuses.get(401) == 1
    assert client.stats.count("token") == 1
    assert client.stats.count("disputes.list") >= 2


def test_oauth_bad_secret_is_authentication_error(make_client: MakeClient) -> None:
    client = make_client(oauth=True, client_secret="wrong")
    with pytest.raises(AuthenticationError) as info:
        client.get_payment("pay_x")
    assert info.value.error_type == "invalid_client"
    assert client.stats.count("token") == 1


# ---------------------------------------------------------------------------- rate limiting
def test_client_limiter_stays_under_a_low_sandbox_limit(sandbox: Sandbox, make_client: MakeClient) -> None:
    sandbox.set(read_rps=10)
    paced = make_client(read_rps=9, max_retries=0)
    pid = authorized_payment(paced)["id"]
    started = time.monotonic()
    for _ in range(22):
        paced.get_payment(pid)
    assert time.monotonic() - started >= 1.5
    assert paced.stats.rate_limited == 0

    sandbox.set(read_rps=10)  # fresh windows: the control starts with the full allowance
    unpaced = make_client(read_rps=0, max_retries=0)  # control: the sandbox does enforce its limit

    def burst() -> None:
        for _ in range(40):
            unpaced.get_payment(pid)

    with pytest.raises(RateLimitedError):
        burst()


# ---------------------------------------------------------------------------- links, workflows
def test_payment_link_and_workflow(make_client: MakeClient) -> None:
    client = make_client()
    link = client.create_payment_link(
        {
            "amount": 1234,
            "currency": "EUR",
            "reference": "ORD-IT-LINK",
            "billing": {"address": {"country": "NL"}},
        }
    )
    assert link["id"].startswith("pl_")
    got = client.get_payment_link(link["id"])
    assert got["amount"] == 1234
    assert got["status"] == "Active"
    wf = client.create_workflow(
        {
            "name": "it",
            "active": True,
            "conditions": [{"type": "event", "events": {"gateway": ["payment_captured"]}}],
            "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "signature": {"key": "k"}}],
        }
    )
    assert wf["id"].startswith("wf_")


# ---------------------------------------------------------------------------- threads, logs
def test_threads_share_one_token_and_one_budget(sandbox: Sandbox, make_client: MakeClient) -> None:
    client = make_client(oauth=True, read_rps=30)
    pid = authorized_payment(make_client())["id"]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.get_payment(pid)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert client.stats.count("token") == 1
    assert client.stats.count("payments.get") == 40
    assert client.stats.rate_limited == 0


def test_logs_never_show_credentials_tokens_or_signatures(
    sandbox: Sandbox, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from cfp_dev.sandbox.checkout import DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_SECRET_KEY

    lo, hi = full_window(sandbox)
    with caplog.at_level(logging.DEBUG, logger="checkout_freshportal.checkout"):
        oauth = make_client(oauth=True)
        list(oauth.search_payments(lo, hi, limit=100))  # next links carry ?token=
        token = oauth._auth._token.value  # type: ignore[attr-defined]
        report = next(iter(oauth.list_reports(lo, limit=100)))
        with oauth.open_report_file(report["id"], report["files"][0]["id"]) as raw:
            raw.read()
        keyed = make_client()
        sandbox.set(fault_500_share=0.5)
        list(keyed.list_disputes(limit=1))
    assert "GET /payments/search/" in caplog.text  # lines are there ...
    for secret in (DEFAULT_SECRET_KEY, DEFAULT_OAUTH_CLIENT_SECRET, token, "sig=", "token=", "Bearer"):
        assert secret not in caplog.text  # ... but never a credential, token or signature


# ------------------------------------------------------------------ credentials of the user's choosing
def test_client_with_a_custom_key_and_custom_oauth_client() -> None:
    """``cfp sandbox checkout --secret-key/--oauth-client-*``: any client can bring its own keys."""
    from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer
    from cfp_dev.sandbox.checkout.config import oauth_client

    key = "sk_sbox_" + "c" * 26 + "d"
    client_id, secret = "ack_" + "e" * 26, "custom-client-secret"
    config = SandboxConfig(
        days=0, secret_keys=[key], oauth_clients=oauth_client(client_id, secret), read_rps=0, write_rps=0
    )
    with SandboxServer(config) as server:
        made = [
            CheckoutClient(CheckoutSettings(base_url=server.base_url, secret_key=key)),
            CheckoutClient(
                CheckoutSettings(base_url=server.base_url, client_id=client_id, client_secret=secret)
            ),
        ]
        default = CheckoutClient(CheckoutSettings(base_url=server.base_url, secret_key=DEFAULT_SECRET_KEY))
        try:
            for client in made:
                created = authorized_payment(client, reference="ORD-KEYS-1")
                assert client.get_payment(created["id"])["status"] == "Authorized"
            with pytest.raises(AuthenticationError) as info:
                default.get_payment(created["id"])
            assert info.value.status == 401
        finally:
            for client in (*made, default):
                client.close()
