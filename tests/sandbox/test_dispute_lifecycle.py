"""Disputes driven one event type at a time, retrieval requests, and webhooks sent again or in
another order (the admin controls of docs/sandbox.md, "Money movements")."""

from __future__ import annotations

import json

import requests

from cfp_dev.sandbox.checkout.world import DISPUTE_EVENT_STATUS

from .conftest import make_session, pay, wait_until
from .test_webhooks import _register

LIFECYCLE = [
    ("dispute_evidence_submitted", "evidence_under_review"),
    ("dispute_evidence_acknowledged_by_scheme", "evidence_under_review"),
    ("dispute_lost", "lost"),
    ("dispute_arbitration_sent_to_scheme", "arbitration_under_review"),
    ("dispute_arbitration_evidence_submitted", "arb_evidence_submitted"),
    ("dispute_arbitration_won", "arbitration_won"),
]


def _captured(api, base: str, amount: int = 6_000) -> str:
    pid = pay(api, base, amount=amount)["id"]
    requests.post(f"{base}/_sandbox/advance", json={"hours": 1 / 60, "payments_per_hour": 0})
    return pid


def _bodies(receiver) -> list[dict]:
    return [json.loads(b) for b in receiver.bodies()]


def test_every_dispute_event_type_can_be_sent(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    _register(sb.base_url, receiver.url)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    opened = requests.post(f"{base}/_sandbox/payments/{pid}/dispute", json={"amount": 2_500})
    dsp = opened.json()["id"]
    for event, status in LIFECYCLE:
        r = requests.post(f"{base}/_sandbox/disputes/{dsp}/events", json={"event": event})
        assert r.json()["status"] == status, event
        assert api.get(f"{base}/disputes/{dsp}").json()["status"] == status
    rest = ["dispute_arbitration_lost", "dispute_accepted", "dispute_expired", "dispute_won"]
    rest += ["dispute_canceled", "dispute_resolved"]
    assert requests.post(f"{base}/_sandbox/disputes/{dsp}/events", json={"events": rest}).status_code == 200
    wanted = {"dispute_received", "dispute_evidence_required", *DISPUTE_EVENT_STATUS}
    wait_until(lambda: wanted <= {e["type"] for e in _bodies(receiver)})
    for e in _bodies(receiver):
        if e["type"].startswith("dispute_"):
            data = e["data"]
            assert "status" not in data
            assert (data["id"], data["payment_id"], data["amount"]) == (dsp, pid, 2_500)
            assert data["currency"] == "EUR"
            assert data["category"]
            assert data["reason_code"]
            # the deadline only where the real samples show it
            deadline = e["type"] in ("dispute_received", "dispute_evidence_required")
            assert ("evidence_required_by" in data) == deadline
    bad = requests.post(f"{base}/_sandbox/disputes/{dsp}/events", json={"event": "dispute_nope"})
    assert bad.status_code == 422


def test_retrieval_request_is_an_event_without_a_dispute(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    _register(sb.base_url, receiver.url)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    r = requests.post(f"{base}/_sandbox/payments/{pid}/retrieval", json={"reason_code": "28"})
    assert r.status_code == 201
    rid = r.json()["id"]
    event = wait_until(
        lambda: [e for e in _bodies(receiver) if e["type"] == "request_for_information_received"]
    )[0]
    assert (event["data"]["id"], event["data"]["payment_id"], event["data"]["reason_code"]) == (
        rid,
        pid,
        "28",
    )
    assert "status" not in event["data"]
    assert event["data"]["evidence_required_by"]
    assert api.get(f"{base}/disputes/{rid}").status_code == 404
    assert api.get(f"{base}/disputes", params={"payment_id": pid}).json()["total_count"] == 0


def test_held_webhooks_are_released_in_reverse_and_sent_again(sandbox_factory, receiver) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05, webhook_workers=1)
    _register(sb.base_url, receiver.url)
    api, base = make_session(), sb.base_url
    pid = _captured(api, base)
    wait_until(lambda: len(receiver.bodies()) == 2)  # approved, captured
    assert requests.post(f"{base}/_sandbox/webhooks/hold").json() == {"held": True}
    dsp = requests.post(f"{base}/_sandbox/payments/{pid}/dispute", json={}).json()["id"]
    requests.post(f"{base}/_sandbox/disputes/{dsp}/events", json={"events": ["dispute_evidence_submitted"]})
    requests.post(f"{base}/_sandbox/disputes/{dsp}/events", json={"event": "dispute_won"})
    assert len(receiver.bodies()) == 2
    released = requests.post(f"{base}/_sandbox/webhooks/release", json={"order": "reverse"}).json()
    assert len(released["event_ids"]) == 4
    wait_until(lambda: len(receiver.bodies()) == 6)
    order = [e["type"] for e in _bodies(receiver)[2:]]
    assert order == [
        "dispute_won",
        "dispute_evidence_submitted",
        "dispute_evidence_required",
        "dispute_received",
    ]
    won = _bodies(receiver)[2]
    again = requests.post(f"{base}/_sandbox/webhooks/redeliver", json={"event_id": won["id"]})
    assert again.json()["deliveries"] == 1
    wait_until(lambda: len(receiver.bodies()) == 7)
    assert receiver.bodies()[-1] == receiver.bodies()[2]
    missing = requests.post(f"{base}/_sandbox/webhooks/redeliver", json={"event_id": "evt_nope"})
    assert missing.status_code == 404
