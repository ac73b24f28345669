"""Refunds, captures and voids for exactly-once tests: events, the ledger of what was executed,
declines on demand, processed-then-failed faults, the idempotency window, authorization expiry."""

from __future__ import annotations

import json

import pytest
import requests

from .conftest import make_session, pay, wait_until
from .test_webhooks import _register


def _advance(base: str, hours: float) -> None:
    r = requests.post(f"{base}/_sandbox/advance", json={"hours": hours, "payments_per_hour": 0})
    assert r.status_code == 200


def _ledger(base: str, **params: str) -> dict:
    r = requests.get(f"{base}/_sandbox/actions", params=params)
    assert r.status_code == 200
    return r.json()


def _captured(api, base: str, amount: int = 10_000) -> str:
    pid = pay(api, base, amount=amount)["id"]
    _advance(base, 1 / 60)  # the auto-capture lands
    assert api.get(f"{base}/payments/{pid}").json()["balances"]["available_to_refund"] == amount
    return pid


def _events(receiver, kind: str) -> list[dict]:
    return [e for e in (json.loads(b) for b in receiver.bodies()) if e["type"] == kind]


def test_partial_refunds_emit_events_and_fill_the_ledger(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    _register(sb.base_url, receiver.url)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    first = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 3_000, "reference": "RR-1"})
    second = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 2_000, "reference": "RR-2"})
    assert first.status_code == second.status_code == 202
    assert set(first.json()) == {"action_id", "reference", "_links"}
    _advance(base, 1 / 60)
    wait_until(lambda: len(_events(receiver, "payment_refunded")) == 2)
    by_action = {e["data"]["action_id"]: e["data"] for e in _events(receiver, "payment_refunded")}
    data = by_action[first.json()["action_id"]]
    assert (data["amount"], data["currency"], data["reference"]) == (3_000, "EUR", "RR-1")
    assert by_action[second.json()["action_id"]]["balances"]["available_to_refund"] in (5_000, 7_000)
    b = api.get(f"{base}/payments/{pid}").json()["balances"]
    assert (b["total_refunded"], b["available_to_refund"]) == (5_000, 5_000)
    actions = {a["id"]: a for a in api.get(f"{base}/payments/{pid}/actions").json()}
    assert actions[second.json()["action_id"]]["reference"] == "RR-2"
    assert actions[second.json()["action_id"]]["approved"] is True
    ledger = _ledger(base, type="refund")
    assert ledger["totals"]["Refund"] == {
        "count": 2,
        "amount": 5_000,
        "approved": 2,
        "approved_amount": 5_000,
        "declined": 0,
        "pending": 0,
    }
    assert [e["reference"] for e in ledger["payments"][pid]] == ["RR-1", "RR-2"]
    over = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 5_001})
    assert (over.status_code, over.json()["error_codes"]) == (422, ["amount_exceeds_balance"])
    assert _ledger(base)["totals"]["Refund"]["count"] == 2  # a refusal executes nothing


def test_armed_decline_gives_a_declined_action_and_event(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    _register(sb.base_url, receiver.url)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    armed = requests.post(
        f"{base}/_sandbox/declines", json={"type": "refund", "payment_id": pid, "response_code": "20051"}
    )
    assert armed.status_code == 201
    r = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 1_000, "reference": "RR-D"})
    assert r.status_code == 202
    _advance(base, 1 / 60)
    event = wait_until(lambda: _events(receiver, "payment_refund_declined"))[0]["data"]
    assert event["action_id"] == r.json()["action_id"]
    assert (event["response_code"], event["response_summary"]) == ("20051", "Insufficient Funds")
    assert (event["amount"], event["reference"]) == (1_000, "RR-D")
    action = next(
        a for a in api.get(f"{base}/payments/{pid}/actions").json() if a["id"] == event["action_id"]
    )
    assert action["approved"] is False
    assert api.get(f"{base}/payments/{pid}").json()["balances"]["total_refunded"] == 0
    assert _ledger(base)["totals"]["Refund"]["declined"] == 1
    # armed once: the next refund is approved
    api.post(f"{base}/payments/{pid}/refunds", json={"amount": 1_000})
    _advance(base, 1 / 60)
    assert _ledger(base)["totals"]["Refund"]["approved"] == 1


def test_processed_then_500_is_executed_once_and_replayed_under_its_key(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05, fault_writes_only=True)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    requests.post(f"{base}/_sandbox/faults", json={"fault_after_500_share": 1.0})
    key = {"Cko-Idempotency-Key": "refund-request-17"}
    lost = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 500}, headers=key)
    assert lost.status_code == 500
    assert api.get(f"{base}/payments/{pid}").status_code == 200  # reads are not faulted
    executed = _ledger(base, payment_id=pid, type="refund")["payments"][pid]
    assert len(executed) == 1
    requests.post(f"{base}/_sandbox/faults", json={"fault_after_500_share": 0.0})
    retry = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 500}, headers=key)
    assert retry.status_code == 202
    assert retry.json()["action_id"] == executed[0]["action_id"]
    assert len(_ledger(base, payment_id=pid, type="refund")["payments"][pid]) == 1
    # the same loss without a key: a blind retry doubles the refund, and the ledger shows it
    requests.post(f"{base}/_sandbox/faults", json={"fault_after_500_share": 1.0})
    assert api.post(f"{base}/payments/{pid}/refunds", json={"amount": 500}).status_code == 500
    requests.post(f"{base}/_sandbox/faults", json={"fault_after_500_share": 0.0})
    assert api.post(f"{base}/payments/{pid}/refunds", json={"amount": 500}).status_code == 202
    assert _ledger(base)["totals"]["Refund"]["count"] == 3
    assert requests.get(f"{base}/_sandbox/calls").json()["processed_then_failed"] == {"after_500": 2}


def test_processed_then_timeout(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05, slow_seconds=1.0)
    api, base = make_session(), sb.base_url
    pid = pay(api, base, amount=4_000, capture=False)["id"]
    requests.post(f"{base}/_sandbox/faults", json={"fault_after_timeout_share": 1.0})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post(f"{base}/payments/{pid}/captures", json={"amount": 1_000}, timeout=(5, 0.2))
    requests.post(f"{base}/_sandbox/faults", json={"fault_after_timeout_share": 0.0})
    _advance(base, 1 / 60)
    assert api.get(f"{base}/payments/{pid}").json()["balances"]["total_captured"] == 1_000
    assert _ledger(base, type="capture")["totals"]["Capture"]["approved"] == 1


def test_idempotency_window_on_the_simulator_clock(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    key = {"Cko-Idempotency-Key": "rr-9"}
    first = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100}, headers=key)
    _advance(base, 23)
    again = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100}, headers=key)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert _ledger(base)["totals"]["Refund"]["count"] == 1
    _advance(base, 1.5)  # 24.5 h after the first answer: the key is forgotten
    late = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100}, headers=key)
    assert late.status_code == 202
    assert late.json()["action_id"] != first.json()["action_id"]
    assert _ledger(base)["totals"]["Refund"]["count"] == 2


def test_manual_capture_expiry_and_final_capture(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    api, base = make_session(), sb.base_url
    pid = pay(api, base, amount=9_000, capture=False)["id"]
    _advance(base, 24)
    details = api.get(f"{base}/payments/{pid}").json()
    assert details["status"] == "Authorized"
    assert details["expires_on"]
    expired = requests.post(f"{base}/_sandbox/payments/{pid}/expire")
    assert expired.json()["status"] == "Expired"
    assert expired.json()["balances"]["available_to_capture"] == 0
    r = api.post(f"{base}/payments/{pid}/captures", json={"amount": 100})
    assert (r.status_code, r.content) == (403, b"")
    requests.post(f"{base}/_sandbox/faults", json={"expired_capture_status": 422})
    r = api.post(f"{base}/payments/{pid}/captures", json={"amount": 100})
    assert (r.status_code, r.json()["error_codes"]) == (422, ["payment_expired"])
    # a partial shipment, then the last one Final: the rest of the authorization is released
    other = pay(api, base, amount=9_000, capture=False)["id"]
    assert api.post(f"{base}/payments/{other}/captures", json={"amount": 3_000}).status_code == 202
    final = {"amount": 2_000, "capture_type": "Final"}
    assert api.post(f"{base}/payments/{other}/captures", json=final).status_code == 202
    _advance(base, 1 / 60)
    b = api.get(f"{base}/payments/{other}").json()["balances"]
    assert (b["total_captured"], b["available_to_capture"], b["available_to_refund"]) == (5_000, 0, 5_000)
    # expiring after the advance past expires_on (7 days) on its own
    third = pay(api, base, amount=1_000, capture=False)["id"]
    _advance(base, 7 * 24 + 1)
    assert api.get(f"{base}/payments/{third}").json()["status"] == "Expired"


def test_armed_refusal_executes_nothing(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    for status in (403, 422):
        arm = {"type": "refund", "payment_id": pid, "http_status": status}
        assert requests.post(f"{base}/_sandbox/declines", json=arm).status_code == 201
    first = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100})
    assert (first.status_code, first.content) == (403, b"")
    second = api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100})
    assert (second.status_code, second.json()["error_codes"]) == (422, ["action_failure_limit_exceeded"])
    assert _ledger(base)["totals"]["Refund"]["count"] == 0
    assert api.post(f"{base}/payments/{pid}/refunds", json={"amount": 100}).status_code == 202
    bad = requests.post(f"{base}/_sandbox/declines", json={"type": "refund", "http_status": 500})
    assert bad.status_code == 422
