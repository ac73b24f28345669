"""Admin endpoints (summary, advance) and payment links."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import requests

from cfp_dev.sandbox.checkout.fees import format_decimal
from checkout_freshportal.timeutil import parse_ts

from .conftest import make_session, wait_until


def test_summary_matches_the_world(shared_sandbox) -> None:
    s = requests.get(f"{shared_sandbox.base_url}/_sandbox/summary").json()
    w = shared_sandbox.world
    with w.lock:
        assert s["counts"]["payments"] == len(w.payments)
        assert s["counts"]["actions"] == sum(len(p.actions) for p in w.payments.values())
        assert s["counts"]["disputes"] == len(w.disputes)
        assert s["counts"]["financial_action_lines"] == sum(len(fa.lines) for fa in w.financial_actions)
        captured: dict[str, int] = defaultdict(int)
        for p in w.payments.values():
            captured[p.currency] += p.total_captured
        assert s["money"]["total_captured"] == dict(captured)
        holding: dict[str, Decimal] = defaultdict(Decimal)
        for fa in w.financial_actions:
            for ln in fa.lines:
                holding[fa.holding_currency] += ln.holding_amount
        assert s["money"]["financial_action_holding_amounts"] == {
            k: format_decimal(v) for k, v in holding.items()
        }
        assert s["money"]["payouts"] == {
            c: sum(
                po.amount
                for po in w.payouts
                if po.currency == c and po.date in {r.payout_date for r in w.reports if r.type == "Payouts"}
            )
            for c in {po.currency for po in w.payouts}
        }


def test_summary_respects_lag(sandbox_factory) -> None:
    sb = sandbox_factory(days=1, list_lag_seconds=3600)
    s = requests.get(f"{sb.base_url}/_sandbox/summary").json()
    assert s["counts"]["payments"] == sum(
        1 for p in sb.world.payments.values() if p.requested_on <= parse_ts(s["visible_until"])
    )
    assert s["counts"]["payments"] < len(sb.world.payments)


def test_advance_generates_activity_and_reports(sandbox_factory) -> None:
    sb = sandbox_factory(days=3, payments_per_day=48)
    before = requests.get(f"{sb.base_url}/_sandbox/summary").json()
    r = requests.post(f"{sb.base_url}/_sandbox/advance", json={"hours": 30, "payments_per_hour": 4}).json()
    assert r["payments_created"] >= 120  # plus retries of declined orders
    assert r["steps_applied"] > r["payments_created"]  # captures/refunds of older payments too
    assert r["reports_created"] >= 3  # a day boundary passed
    after = requests.get(f"{sb.base_url}/_sandbox/summary").json()
    assert (parse_ts(after["now"]) - parse_ts(before["now"])).total_seconds() >= 30 * 3600
    assert after["counts"]["payments"] == before["counts"]["payments"] + r["payments_created"]
    api = make_session()
    newest = api.post(f"{sb.base_url}/payments/search", json={"query": "amount:>=0", "limit": 1}).json()[
        "data"
    ][0]
    assert parse_ts(newest["requested_on"]) > parse_ts(before["now"])


def test_payment_link_lifecycle(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    api = make_session()
    body = {
        "amount": 23_450,
        "currency": "EUR",
        "reference": "FP-200001",
        "billing": {"address": {"country": "NL"}},
        "metadata": {"order_id": "200001"},
        "expires_in": 3600,
    }
    r = api.post(f"{sb.base_url}/payment-links", json=body)
    assert r.status_code == 201
    link = r.json()
    assert link["id"].startswith("pl_")
    assert len(link["id"]) == 15
    assert link["_links"]["redirect"]["href"]
    assert api.get(f"{sb.base_url}/payment-links/{link['id']}").json()["status"] == "Active"
    bad = api.post(f"{sb.base_url}/payment-links", json={"amount": 0, "currency": "EUR"})
    assert set(bad.json()["error_codes"]) == {"amount_invalid", "billing_required"}
    declined = requests.post(
        f"{sb.base_url}/_sandbox/payment-links/{link['id']}/pay", json={"card_number": "4544249167673670"}
    ).json()
    assert declined["status"] == "Declined"
    assert api.get(f"{sb.base_url}/payment-links/{link['id']}").json()["status"] == "Active"
    paid = requests.post(f"{sb.base_url}/_sandbox/payment-links/{link['id']}/pay", json={})
    assert paid.status_code == 201
    payment = paid.json()
    details = api.get(f"{sb.base_url}/payment-links/{link['id']}").json()
    assert details["status"] == "Payment Received"
    assert details["payment_id"] == payment["id"]
    got = wait_until(
        lambda: (g := api.get(f"{sb.base_url}/payments/{payment['id']}").json())["status"] == "Captured" and g
    )
    assert got["reference"] == "FP-200001"
    assert got["metadata"] == {"order_id": "200001"}
    assert got["amount"] == 23_450
    again = requests.post(f"{sb.base_url}/_sandbox/payment-links/{link['id']}/pay", json={})
    assert again.status_code == 422
    assert again.json()["error_codes"] == ["payment_link_already_paid"]
    other = api.post(f"{sb.base_url}/payment-links", json={**body, "expires_in": 60}).json()
    requests.post(f"{sb.base_url}/_sandbox/advance", json={"hours": 1, "payments_per_hour": 0})
    assert api.get(f"{sb.base_url}/payment-links/{other['id']}").json()["status"] == "Expired"
