"""The four pagination styles: skip/limit (+total_count), tokens only inside _links.next.href."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from checkout_freshportal.timeutil import parse_ts


def test_payments_by_reference_skip_limit(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    ref = next(r for r, ps in world.by_reference.items() if len(ps) >= 2)  # a declined order retried
    r = api.get(f"{base}/payments", params={"reference": ref, "limit": 1})
    body = r.json()
    assert r.status_code == 200
    assert body["limit"] == 1
    assert body["skip"] == 0
    assert body["total_count"] == len(world.by_reference[ref])
    assert len(body["data"]) == 1
    second = api.get(f"{base}/payments", params={"reference": ref, "limit": 1, "skip": 1}).json()["data"][0]
    first = body["data"][0]
    assert parse_ts(first["requested_on"]) >= parse_ts(second["requested_on"])  # newest first
    assert api.get(f"{base}/payments", params={"reference": ref, "limit": 101}).status_code == 422
    r = api.get(f"{base}/payments", params={"reference": ref, "limit": 0})
    assert r.json()["error_codes"] == ["paging_limit_invalid"]
    assert r.json()["request_id"] == r.headers["Cko-Request-Id"]


def test_disputes_skip_limit_newest_first(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    seen, skip = [], 0
    while True:
        page = api.get(f"{base}/disputes", params={"limit": 3, "skip": skip}).json()
        assert page["total_count"] == len(world.disputes)
        seen.extend(page["data"])
        skip += 3
        if skip >= page["total_count"]:
            break
    assert len({d["id"] for d in seen}) == len(world.disputes)
    updates = [parse_ts(d["last_update"]) for d in seen]
    assert updates == sorted(updates, reverse=True)
    assert api.get(f"{base}/disputes", params={"limit": 251}).json()["error_codes"] == [
        "paging_limit_invalid"
    ]
    one = seen[0]
    only = api.get(f"{base}/disputes", params={"payment_id": one["payment_id"]}).json()
    assert only["payment_id"] == one["payment_id"]
    assert one["id"] in {d["id"] for d in only["data"]}
    by_status = api.get(f"{base}/disputes", params={"statuses": f"{one['status']},nonexistent"}).json()
    assert all(d["status"] == one["status"] for d in by_status["data"])
    assert by_status["total_count"] >= 1
    window = api.get(f"{base}/disputes", params={"from": one["last_update"], "to": one["last_update"]}).json()
    assert window["total_count"] == 0  # to is exclusive


def test_financial_actions_token_only_in_next_href(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    pid = max(world.fa_by_payment, key=lambda k: len(world.fa_by_payment[k]))
    expected = {fa.action_id for fa in world.fa_by_payment[pid]}
    assert len(expected) >= 2
    page = api.get(f"{base}/financial-actions", params={"payment_id": pid, "limit": 1}).json()
    got = []
    while True:
        assert "pagination_token" not in page
        assert set(page) == {"count", "limit", "data", "_links"}
        got.extend(fa["action_id"] for fa in page["data"])
        nxt = page["_links"].get("next")
        if not nxt:
            break
        assert "pagination_token" in parse_qs(urlsplit(nxt["href"]).query)
        page = api.get(nxt["href"]).json()
    assert set(got) == expected
    assert len(got) == len(expected)
    item = api.get(f"{base}/financial-actions", params={"action_id": got[0]}).json()["data"][0]
    line = item["breakdown"][0]
    assert line["breakdown_type"] == "Gross"
    assert isinstance(line["holding_currency_amount"], float)
    r = api.get(f"{base}/financial-actions")
    assert r.status_code == 422
    assert r.json()["error_codes"] == ["payment_id_or_action_id_required"]
    bad = api.get(f"{base}/financial-actions", params={"payment_id": pid, "pagination_token": "garbage"})
    assert bad.json()["error_codes"] == ["pagination_token_invalid"]


def test_financial_action_amounts_are_exact_json_numbers(shared_sandbox, api) -> None:
    """The JSON text carries the Decimal digits exactly (parse with Decimal, never float)."""
    import json
    from decimal import Decimal

    base, world = shared_sandbox.base_url, shared_sandbox.world
    fa = next(fa for fa in world.financial_actions if fa.fx_rate != 1)
    raw = api.get(f"{base}/financial-actions", params={"action_id": fa.action_id}).text
    parsed = json.loads(raw, parse_float=Decimal)["data"][0]["breakdown"]
    assert [b["holding_currency_amount"] for b in parsed] == [ln.holding_amount for ln in fa.lines]
    assert parsed[0]["fx_rate_applied"] == fa.fx_rate


def test_reports_walk_with_next_links(shared_sandbox, api) -> None:
    base, world = shared_sandbox.base_url, shared_sandbox.world
    page = api.get(f"{base}/reports", params={"limit": 7}).json()
    ids = []
    while True:
        assert "pagination_token" not in page
        ids.extend(r["id"] for r in page["data"])
        if "next" not in page["_links"]:
            break
        page = api.get(page["_links"]["next"]["href"]).json()
    assert len(ids) == len(set(ids)) == len(world.reports)
    mid = world.reports[len(world.reports) // 2].created_on
    from cfp_dev.sandbox.checkout.clock import cko_ts

    after = api.get(f"{base}/reports", params={"created_after": cko_ts(mid), "limit": 100}).json()
    assert after["count"] == sum(1 for r in world.reports if r.created_on >= mid)
    assert api.get(f"{base}/reports", params={"limit": 101}).status_code == 422
