"""Fulfilment releases (the capture trigger) and the refund-request quirks, against the live simulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxState
from checkout_freshportal.freshportal import (
    DataError,
    FulfilmentRelease,
    NotFoundError,
    RefundOutcome,
    ServerError,
    load_mapping,
)
from checkout_freshportal.freshportal.releases import fulfilment_release_from_api

ORDERS = [
    {"order_number": "FP-30000", "currency": "EUR", "amount_minor": 10000, "status": "confirmed"},
    {"order_number": "FP-30001", "currency": "KWD", "amount_minor": 12345, "status": "confirmed"},
    {"order_number": "FP-30002", "currency": "JPY", "amount_minor": 14000, "status": "picking"},
]
RELEASES = [
    {"order_number": "FP-30000", "amount_minor": 4000, "complete": False},
    {"order_number": "FP-30000", "amount_minor": 6000, "complete": True},
    {"order_number": "FP-30001", "amount_minor": 12345, "complete": True},
    {"order_number": "FP-30002", "amount_minor": 1400, "complete": False},
]


def _state(server) -> dict:
    return requests.get(f"{server.base_url}/_sandbox/state", timeout=5).json()


def _release(server, ref: str, body: object) -> requests.Response:
    return requests.post(f"{server.base_url}/_sandbox/orders/{ref}/releases", json=body, timeout=5)


@pytest.fixture
def shop(make_sandbox):
    return make_sandbox(orders=ORDERS, fulfilment_releases=RELEASES, now="2024-10-27T01:30:00Z")


# ====================================================================== feed
def test_release_feed_pages_through_every_release_once(shop, make_client) -> None:
    client = make_client(shop)
    feed = client.iter_fulfilment_releases_changed(None, limit=3)
    got = list(feed)
    assert feed.pages == 2
    assert all(isinstance(r, FulfilmentRelease) for r in got)
    assert [(r.order_number, r.amount_minor, r.currency, r.complete) for r in got] == [
        ("FP-30000", 4000, "EUR", False),
        ("FP-30000", 6000, "EUR", True),
        ("FP-30001", 12345, "KWD", True),
        ("FP-30002", 1400, "JPY", False),
    ]
    assert len({r.release_id for r in got}) == 4
    assert {r.version for r in got} == {1}
    # 01:30Z on 27 Oct 2024 is 02:30 in Amsterdam, in the fall-back hour: read as the earlier
    # instant (02:30 CEST = 00:30Z), the documented rule for DD-MM-YYYY HH:MM:SS wall clock.
    assert got[0].released_at == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert got[0].updated_at == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    page = client.get_fulfilment_releases_page(None, 2)
    assert page.has_more is True
    assert len(page.items) == 2


def test_release_feed_wire_shape_keeps_the_legacy_timestamp(shop, make_client) -> None:
    client = make_client(shop)
    raw = client.get_fulfilment_releases_page(None, 1).items[0].raw
    assert raw["released_at"] == "27-10-2024 02:30:00"
    assert raw["amount"] == "40.00"
    assert raw["complete"] is False
    assert isinstance(raw["id"], int)


def test_release_feed_resumes_with_only_new_releases(shop, make_client) -> None:
    client = make_client(shop)
    feed = client.iter_fulfilment_releases_changed(None)
    assert len(list(feed)) == 4
    assert list(client.iter_fulfilment_releases_changed(feed.next_cursor)) == []
    created = _release(shop, "FP-30002", {"amount_minor": 12600, "complete": True})
    assert created.status_code == 201, created.text
    (new,) = client.iter_fulfilment_releases_changed(feed.next_cursor)
    assert (new.order_number, new.amount_minor, new.complete) == ("FP-30002", 12600, True)
    assert new.release_id == str(created.json()["id"])
    assert client.get_fulfilment_release(new.release_id) == new


def test_unknown_release_is_not_found(shop, make_client) -> None:
    client = make_client(shop)
    with pytest.raises(NotFoundError):
        client.get_fulfilment_release("999999")


def test_release_reading_refuses_a_non_boolean_complete_flag() -> None:
    m = load_mapping()
    raw = {"id": 1, "order_id": 2, "currency_code": "EUR", "amount": "1.00", "complete": "yes"}
    with pytest.raises(DataError, match="complete"):
        fulfilment_release_from_api(raw, m)
    with pytest.raises(DataError, match="amount"):
        fulfilment_release_from_api({**raw, "complete": True, "amount": "1.005"}, m)


# ====================================================================== admin and scenario
def test_admin_release_is_in_the_state_and_validated(shop) -> None:
    ok = _release(shop, "FP-30001", {"amount_minor": 100, "complete": False})
    assert ok.status_code == 201
    assert ok.json()["amount"] == "0.100"
    listed = _state(shop)["fulfilment_releases"]
    assert len(listed) == 5
    assert listed[-1]["_sandbox"]["amount_minor"] == 100
    for body, code in [
        ({"amount_minor": 10001, "complete": False}, 422),  # more than the order
        ({"amount_minor": 0}, 422),
        ({"amount_minor": 100, "complete": "true"}, 422),
        ({"amount_minor": 100, "colour": "red"}, 422),
        ([1], 422),
    ]:
        assert _release(shop, "FP-30000", body).status_code == code, body
    assert _release(shop, "FP-99999", {"amount_minor": 1}).status_code == 404
    assert len(_state(shop)["fulfilment_releases"]) == 5


def test_scenario_releases_are_optional_and_checked() -> None:
    config = FreshPortalSandboxConfig.from_scenario(
        {"freshportal": {"orders": ORDERS, "fulfilment_releases": RELEASES[:1]}}
    )
    assert len(FreshPortalSandboxState(config).releases) == 1
    assert FreshPortalSandboxState(FreshPortalSandboxConfig.from_scenario({"orders": ORDERS})).releases == {}
    bad = FreshPortalSandboxConfig(orders=ORDERS, fulfilment_releases=[{"order_number": "FP-1"}])
    with pytest.raises(ValueError, match="unknown order"):
        FreshPortalSandboxState(bad)


# ====================================================================== faults
def test_release_feed_completes_under_injected_faults(make_sandbox, make_client) -> None:
    many = [{"order_number": "FP-30000", "amount_minor": 10, "complete": False}] * 30
    server = make_sandbox(
        orders=ORDERS, fulfilment_releases=many, fault_429_share=0.25, fault_500_share=0.15, fault_seed=3
    )
    client = make_client(server, max_retries=8)
    got = list(client.iter_fulfilment_releases_changed(None, limit=4))
    assert len({r.release_id for r in got}) == 30
    assert client.stats.statuses.get(429, 0) > 0
    assert client.stats.statuses.get(500, 0) > 0


def test_release_reads_retry_timeouts_and_give_up_after_the_budget(make_sandbox, make_client) -> None:
    server = make_sandbox(orders=ORDERS, fulfilment_releases=RELEASES, slow_seconds=0.6)
    client = make_client(server, timeout=(2.0, 0.2), max_retries=2)
    client.authenticate()
    server.state.faults.queue("slow", "GET", "/v1/fulfilment-releases")
    assert len(list(client.iter_fulfilment_releases_changed(None))) == 4
    assert client.stats.retries == 1
    server.state.faults.queue("500", "GET", "/v1/fulfilment-releases/", count=3)
    with pytest.raises(ServerError):
        client.get_fulfilment_release("6001")
    assert client.stats.count("fulfilment_releases.get") == 3


def test_release_feed_survives_token_expiry(shop, make_client) -> None:
    client = make_client(shop)
    client.get_fulfilment_releases_page(None, 1)
    assert requests.post(f"{shop.base_url}/_sandbox/tokens/expire", timeout=5).json()["expired"] == 1
    assert len(list(client.iter_fulfilment_releases_changed(None))) == 4
    assert client.stats.token_refreshes == 1


# ====================================================================== refund-request quirks
def test_duplicate_create_gives_two_identical_refund_requests(shop, make_client) -> None:
    body = {"order_number": "FP-30000", "amount_minor": 2500, "reason": "damaged_goods", "duplicate": True}
    r = requests.post(f"{shop.base_url}/_sandbox/refund-requests", json=body, timeout=5)
    assert r.status_code == 201, r.text
    first, second = r.json()["_sandbox"]["duplicate_ids"]
    assert first != second
    client = make_client(shop)
    got = {x.refund_request_id: x for x in client.iter_refund_requests_changed(None)}
    a, b = got[str(first)], got[str(second)]
    assert (a.order_id, a.amount_minor, a.currency, a.reason, a.status) == (
        b.order_id,
        b.amount_minor,
        b.currency,
        b.reason,
        b.status,
    )
    assert a.raw["requested_at"] == b.raw["requested_at"]
    single = requests.post(
        f"{shop.base_url}/_sandbox/refund-requests", json={**body, "duplicate": False}, timeout=5
    )
    assert "_sandbox" not in single.json()
    assert len(_state(shop)["refund_requests"]) == 3
    bad = requests.post(f"{shop.base_url}/_sandbox/refund-requests", json={**body, "duplicate": 1}, timeout=5)
    assert bad.status_code == 422


def test_refund_outcome_is_stored_once_through_faults(shop, make_client) -> None:
    created = requests.post(
        f"{shop.base_url}/_sandbox/refund-requests",
        json={"order_number": "FP-30001", "amount_minor": 345},
        timeout=5,
    ).json()
    rid = str(created["id"])
    client = make_client(shop)
    shop.state.faults.queue("429", "GET", "/v1/refund-requests")
    assert [r.refund_request_id for r in client.iter_refund_requests_changed(None)] == [rid]
    processed = datetime(2024, 10, 27, 9, 0, tzinfo=UTC)
    outcome = RefundOutcome("succeeded", 345, "KWD", "pay_1", "act_1", processed, None)
    shop.state.faults.queue("500_after_commit", "PUT", "/outcome")
    updated = client.write_refund_outcome(rid, outcome)  # stored, answered 500, repeated
    assert updated.outcome == outcome
    view = next(x for x in _state(shop)["refund_requests"] if str(x["id"]) == rid)
    assert view["_sandbox"]["outcome_puts"] == 2
    assert view["version"] == 2  # the repeat was a no-op
    assert view["outcome"] == {
        "status": "refunded",
        "refunded_amount": "0.345",
        "currency_code": "KWD",
        "psp_payment_id": "pay_1",
        "psp_refund_id": "act_1",
        "processed_at": "2024-10-27T10:00:00+01:00",
        "failure_reason": None,
    }
    assert client.stats.statuses.get(429) == 1
    assert client.stats.statuses.get(500) == 1
