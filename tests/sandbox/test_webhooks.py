"""Webhook deliveries to a local receiver: signature over raw bytes, headers, resends, faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from .conftest import make_session, pay, wait_until

KEY = "8V8x0dLK%AyD*DNS8JJr"


def _register(base: str, url: str, events: list[str] | None = None) -> str:
    body = {
        "name": "ERP webhooks",
        "active": True,
        "actions": [
            {
                "type": "webhook",
                "url": url,
                "headers": {"Authorization": "shared-secret-1"},
                "signature": {"method": "HMACSHA256", "key": KEY},
            }
        ],
    }
    if events:
        body["conditions"] = [{"type": "event", "events": {"gateway": events}}]
    r = make_session().post(f"{base}/workflows", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _events(receiver) -> list[dict]:
    return [json.loads(b) for b in receiver.bodies()]


def test_signed_deliveries_for_a_payment_lifecycle(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05, webhook_timestamp_envelope_share=0.5)
    wf = _register(sb.base_url, receiver.url)
    api = make_session()
    created = pay(api, sb.base_url, amount=7_700)
    wait_until(lambda: len(receiver.bodies()) >= 2)
    api.post(f"{sb.base_url}/payments/{created['id']}/refunds", json={"amount": 700})
    wait_until(lambda: len(receiver.bodies()) >= 3)
    for rec in receiver.received:
        expected = hmac.new(KEY.encode(), rec.body, hashlib.sha256).hexdigest()
        assert rec.headers["Cko-Signature"] == expected
        assert rec.headers["Authorization"] == "shared-secret-1"
    events = {e["type"]: e for e in _events(receiver)}
    assert set(events) == {"payment_approved", "payment_captured", "payment_refunded"}
    refunded = events["payment_refunded"]
    assert refunded["data"]["id"] == created["id"]
    assert refunded["data"]["amount"] == 700
    assert refunded["data"]["balances"]["total_refunded"] == 700
    assert refunded["data"]["balances"]["available_to_refund"] == 7_000
    assert events["payment_approved"]["data"]["source"]["last_4"] == "4242"
    for e in events.values():
        assert e["id"].startswith("evt_")
        assert "created_on" in e or "timestamp" in e
    listed = make_session().get(f"{sb.base_url}/workflows").json()["data"]
    assert [w["id"] for w in listed] == [wf]
    assert make_session().delete(f"{sb.base_url}/workflows/{wf}").status_code == 204


def test_failed_attempt_is_resent_on_the_simulated_schedule(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, clock_speed=600, action_delay_seconds=1, authorization_expiry_days=30)
    _register(sb.base_url, receiver.url, events=["payment_approved"])
    receiver.fail_first = 1
    t0 = time.monotonic()
    pay(make_session(), sb.base_url, capture=False)
    wait_until(lambda: receiver.bodies(), timeout=5)
    assert time.monotonic() - t0 >= 0.4  # 5 simulated minutes at 600x = 0.5 s
    assert [r.status for r in receiver.received] == [500, 200]
    assert receiver.received[0].body == receiver.received[1].body
    log = requests.get(f"{sb.base_url}/_sandbox/webhooks").json()["deliveries"]
    assert [(d["attempt"], d["delivered"]) for d in log] == [(1, False), (2, True)]


def test_duplicates_and_drops(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(
        days=0,
        clock_speed=600,
        webhook_duplicate_share=1.0,
        webhook_drop_share=1.0,
        authorization_expiry_days=30,
    )
    _register(sb.base_url, receiver.url, events=["payment_approved"])
    pay(make_session(), sb.base_url, capture=False)
    wait_until(lambda: len(receiver.bodies()) >= 2, timeout=5)
    bodies = receiver.bodies()
    assert bodies[0] == bodies[1]  # the duplicate is the same event, byte for byte
    log = requests.get(f"{sb.base_url}/_sandbox/webhooks").json()["deliveries"]
    assert any(d.get("dropped") for d in log)


def test_history_is_not_replayed_to_new_workflows(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=3, clock_speed=1e-9)  # frozen: no planned step can fire meanwhile
    _register(sb.base_url, receiver.url)

    def drained() -> dict | None:
        state = requests.get(f"{sb.base_url}/_sandbox/webhooks").json()
        return state if state["pending"] == 0 else None

    # Nothing queued or on the wire (in flight counts as pending): nothing can still arrive.
    state = wait_until(drained)
    assert receiver.received == []
    assert state["deliveries"] == []
    assert state["events_published"] == 0


def test_dispute_events(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    body = {
        "actions": [{"type": "webhook", "url": receiver.url, "signature": {"key": KEY}}],
        "conditions": [{"type": "event", "events": {"dispute": ["dispute_received", "dispute_won"]}}],
    }
    assert make_session().post(f"{sb.base_url}/workflows", json=body).status_code == 201
    pid = pay(make_session(), sb.base_url, amount=1_040)["id"]
    wait_until(lambda: sb.world.payments[pid].total_captured == 1_040)
    dsp = requests.post(f"{sb.base_url}/_sandbox/payments/{pid}/dispute", json={}).json()["id"]
    requests.post(f"{sb.base_url}/_sandbox/disputes/{dsp}/status", json={"status": "won"})
    wait_until(lambda: len(receiver.bodies()) >= 2)
    assert sorted(e["type"] for e in _events(receiver)) == ["dispute_received", "dispute_won"]
    assert all(e["data"]["payment_id"] == pid for e in _events(receiver))
