"""POST /payments/search: [from, to) on requested_on, newest first, next links, query language."""

from __future__ import annotations

from cfp_dev.sandbox.checkout.clock import cko_ts
from checkout_freshportal.timeutil import parse_ts

from .conftest import make_session, pay, wait_until


def _walk(api, base: str, body: dict) -> list[dict]:
    page = api.post(f"{base}/payments/search", json=body).json()
    items = list(page["data"])
    while page["_links"].get("next"):
        page = api.get(page["_links"]["next"]["href"]).json()
        items.extend(page["data"])
    return items


def test_window_is_from_inclusive_to_exclusive(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    p = world.payment_list[len(world.payment_list) // 2]
    ts = cko_ts(p.requested_on)
    hit = api.post(f"{base}/payments/search", json={"query": f"id:'{p.id}'", "from": ts, "to": ts}).json()
    assert hit["data"] == []
    body = {"query": f"id:'{p.id}'", "from": ts, "to": "2099-01-01T00:00:00Z"}
    assert [x["id"] for x in api.post(f"{base}/payments/search", json=body).json()["data"]] == [p.id]
    body = {"query": f"id:'{p.id}'", "from": "2000-01-01T00:00:00Z", "to": ts}
    assert api.post(f"{base}/payments/search", json=body).json()["data"] == []


def test_next_links_cover_the_window_exactly_once(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    lo, hi = world.payment_list[50].requested_on, world.payment_list[400].requested_on
    items = _walk(api, base, {"query": "amount:>=0", "limit": 60, "from": cko_ts(lo), "to": cko_ts(hi)})
    expected = [p.id for p in world.payment_list if lo <= p.requested_on < hi]
    assert sorted(x["id"] for x in items) == sorted(expected)
    times = [parse_ts(x["requested_on"]) for x in items]
    assert times == sorted(times, reverse=True)
    full = items[0]["actions"][0]
    assert {"id", "type", "processed_on", "amount", "approved", "response_code"} <= set(full)


def test_without_next_links_a_full_page_is_the_only_signal(sandbox_factory) -> None:
    sb = sandbox_factory(search_next_links=False, search_actions="summary")
    api = make_session()
    page = api.post(f"{sb.base_url}/payments/search", json={"query": "amount:>=0", "limit": 100}).json()
    assert len(page["data"]) == 100
    assert "next" not in page["_links"]
    assert set(page["data"][0]["actions"][0]) == {"id", "type", "response_code", "response_summary"}


def test_query_language(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    p = next(p for p in world.payment_list if p.status == "Captured" and p.currency == "GBP")
    q = {"query": f"reference:'{p.reference}' AND currency:gbp AND status:captured", "limit": 1000}
    ids = {x["id"] for x in api.post(f"{base}/payments/search", json=q).json()["data"]}
    assert p.id in ids
    big = [
        x for x in _walk(api, base, {"query": "amount:>100000 AND NOT currency:[JPY,SEK,KWD]", "limit": 1000})
    ]
    assert big
    assert all(x["amount"] > 100000 and x["currency"] not in ("JPY", "SEK", "KWD") for x in big)
    for bad in (
        {"query": "amount:>=abc"},
        {"query": "nosuchfield:1"},
        {"query": ""},
        {"query": "amount:>=0", "limit": 1001},
    ):
        r = api.post(f"{base}/payments/search", json=bad)
        assert r.status_code == 422, bad


def test_lag_hides_new_payments_from_search_but_not_from_get(sandbox_factory) -> None:
    sb = sandbox_factory(days=1, list_lag_seconds=1.0, action_delay_seconds=0.05)
    api = make_session()
    created = pay(api, sb.base_url, reference="FP-LAG")
    body = {"query": "reference:'FP-LAG'", "limit": 10}
    assert api.post(f"{sb.base_url}/payments/search", json=body).json()["data"] == []
    assert api.get(f"{sb.base_url}/payments", params={"reference": "FP-LAG"}).json()["total_count"] == 0
    assert api.get(f"{sb.base_url}/payments/{created['id']}").status_code == 200
    wait_until(lambda: api.post(f"{sb.base_url}/payments/search", json=body).json()["data"], timeout=3)
