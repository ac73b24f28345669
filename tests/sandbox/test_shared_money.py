"""The shared scenario's money cases: each expected outcome holds against the running simulator.

The refund requests, disputes and fulfilment releases carry what the demo must see; these tests
play what a correct client would do for each (validate against ``GET /payments/{id}``, then
refund, void or capture) and check the simulator answers as the expectation says, so a wrong
expectation fails here rather than in the demo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from cfp_dev.sandbox.checkout import SandboxConfig, SandboxServer
from cfp_dev.sandbox.freshportal.config import FreshPortalSandboxConfig
from cfp_dev.sandbox.shared_money import MANUAL_CAPTURE_CHANNEL, REFUND_REASON_CODES, UNPAID_ORDER
from cfp_dev.sandbox.shared_scenario import build_shared_scenario, checkout_section

from .conftest import make_session

NOW = "2026-03-02T10:30:00Z"


@pytest.fixture(scope="module")
def scenario() -> dict:
    return build_shared_scenario(5, now=NOW, days=1, payments_per_day=6, open_orders=4)


@pytest.fixture(scope="module")
def live(scenario: dict, tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("money")) / "checkout.json"
    path.write_text(json.dumps(checkout_section(scenario)))
    config = SandboxConfig(scenario_path=str(path), read_rps=0, write_rps=0, action_delay_seconds=0.05)
    with SandboxServer(config) as sb:
        yield sb


def _payment(api, base: str, ref: str) -> dict | None:
    found = api.get(f"{base}/payments", params={"reference": ref}).json()["data"]
    return found[0] if found else None


def _advance(base: str) -> None:
    requests.post(f"{base}/_sandbox/advance", json={"hours": 1 / 60, "payments_per_hour": 0})


def _settle(api, base: str, pid: str, action_id: str) -> dict:
    _advance(base)
    return next(a for a in api.get(f"{base}/payments/{pid}/actions").json() if a["id"] == action_id)


def _play_refund(api, base: str, order: dict, request: dict) -> tuple[str, str | None, int]:
    """What a correct client does with one refund request: (outcome, reason code, refunded)."""
    p = _payment(api, base, request["order_number"])
    amount = request["amount_minor"]
    if p is None:
        return "rejected", "payment_not_found", 0
    if p["currency"] != order["currency"]:
        return "rejected", "currency_mismatch", 0
    b = p["balances"]
    if b["total_captured"] == 0:
        if amount != p["amount"]:
            return "rejected", "payment_not_captured", 0
        r = api.post(f"{base}/payments/{p['id']}/voids", json={"reference": "void"})
        assert r.status_code == 202
        action = _settle(api, base, p["id"], r.json()["action_id"])
        return ("succeeded", None, action["amount"]) if action["approved"] else ("failed", "declined", 0)
    if amount > b["available_to_refund"]:
        return "rejected", "amount_exceeds_refundable", 0
    r = api.post(f"{base}/payments/{p['id']}/refunds", json={"amount": amount})
    if r.status_code in (403, 422):
        return "failed", "refused_by_checkout", 0
    assert r.status_code == 202
    action = _settle(api, base, p["id"], r.json()["action_id"])
    return ("succeeded", None, amount) if action["approved"] else ("failed", "declined", 0)


def test_every_refund_request_ends_as_expected(scenario: dict, live: SandboxServer) -> None:
    api, base = make_session(), live.base_url
    orders = {o["order_number"]: o for o in scenario["freshportal"]["orders"]}
    requests_ = scenario["freshportal"]["refund_requests"]
    outcomes = {r["expected"]["outcome"] for r in requests_}
    assert outcomes == {"succeeded", "failed", "rejected"}
    for rr in requests_:
        exp = rr["expected"]
        assert exp["reason_code"] is None or exp["reason_code"] in REFUND_REASON_CODES
        got = _play_refund(api, base, orders[rr["order_number"]], rr)
        assert got == (exp["outcome"], exp["reason_code"], exp["refunded_amount_minor"]), rr
    # the two partials on one payment both landed; nothing else was executed twice
    totals = requests.get(f"{base}/_sandbox/actions").json()["totals"]
    assert totals["Refund"]["approved"] == sum(1 for r in requests_ if r["expected"].get("kind") == "refund")
    assert totals["Void"]["approved"] == 1


def test_fulfilment_releases_capture_as_expected(scenario: dict, live: SandboxServer) -> None:
    api, base = make_session(), live.base_url
    channel = scenario["demo"]["money"]["capture_channels"][0]
    assert channel == {"processing_channel_id": MANUAL_CAPTURE_CHANNEL, "auto_capture": False}
    for rel in scenario["freshportal"]["fulfilment_releases"]:
        p = _payment(api, base, rel["order_number"])
        assert p["processing_channel_id"] == MANUAL_CAPTURE_CHANNEL
        body = {"amount": rel["amount_minor"], "capture_type": "Final" if rel["complete"] else "NonFinal"}
        r = api.post(f"{base}/payments/{p['id']}/captures", json=body)
        exp = rel["expected"]
        if exp["outcome"] == "failed":
            assert exp["reason_code"] == "authorization_expired"
            assert (r.status_code, p["status"]) == (403, "Expired")
            continue
        assert r.status_code == 202
        action = _settle(api, base, p["id"], r.json()["action_id"])
        assert (action["approved"], action["amount"]) == (True, exp["captured_amount_minor"])
        if exp["final"]:
            assert api.get(f"{base}/payments/{p['id']}").json()["balances"]["available_to_capture"] == 0


def test_disputes_end_in_their_expected_status(scenario: dict, live: SandboxServer) -> None:
    api, base = make_session(), live.base_url
    disputes = scenario["demo"]["money"]["disputes"]
    assert {d["expected"]["order_signal"] for d in disputes} == {
        "chargeback",
        "dispute_won",
        "retrieval_request",
    }
    for d in disputes:
        p = _payment(api, base, d["order_number"])
        found = api.get(f"{base}/disputes", params={"payment_id": p["id"]}).json()["data"]
        if d["outcome"] == "retrieval":
            assert found == []  # a retrieval request is no dispute (and happens 2 min after now)
            requests.post(f"{base}/_sandbox/advance", json={"hours": 0.05, "payments_per_hour": 0})
            with live.world.lock:
                assert [r.payment_id for r in live.world.retrievals.values()] == [p["id"]]
            continue
        assert [x["status"] for x in found] == [d["expected"]["final_status"]]


def test_the_freshportal_side_reads_the_cases(scenario: dict) -> None:
    config = FreshPortalSandboxConfig.from_scenario(scenario)
    numbers = {o["order_number"] for o in config.orders}
    assert UNPAID_ORDER in numbers
    assert {r["order_number"] for r in config.refund_requests or []} <= numbers
    assert {r["order_number"] for r in scenario["freshportal"]["fulfilment_releases"]} <= numbers
