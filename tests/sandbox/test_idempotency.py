"""Cko-Idempotency-Key: byte-for-byte replay of 2xx, no storage of errors, 409 while in flight."""

from __future__ import annotations

import threading

import requests

from .conftest import CARD, make_session, pay, wait_until


def test_replay_is_byte_for_byte(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, action_delay_seconds=0.05)
    api = make_session()
    body = {"source": CARD, "amount": 4_200, "currency": "EUR", "reference": "FP-IDEM"}
    h = {"Cko-Idempotency-Key": "order-1"}
    first = api.post(f"{sb.base_url}/payments", json=body, headers=h)
    second = api.post(f"{sb.base_url}/payments", json={**body, "amount": 1}, headers=h)  # same key, new body
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    strip = lambda r: {k: v for k, v in r.headers.items() if k.lower() not in ("cko-request-id", "date")}  # noqa: E731
    assert strip(first) == strip(second)
    assert first.headers["Cko-Request-Id"] != second.headers["Cko-Request-Id"]
    assert len(sb.world.by_reference["FP-IDEM"]) == 1
    pid = first.json()["id"]
    cap_h = {"Cko-Idempotency-Key": "refund-1"}
    # play the capture due 0.05 s after the payment: only a captured payment can be refunded
    advance = {"hours": 1 / 3600, "payments_per_hour": 0}
    assert requests.post(f"{sb.base_url}/_sandbox/advance", json=advance).status_code == 200
    r1 = api.post(f"{sb.base_url}/payments/{pid}/refunds", json={"amount": 100}, headers=cap_h)
    r2 = api.post(f"{sb.base_url}/payments/{pid}/refunds", json={"amount": 100}, headers=cap_h)
    assert r1.status_code == 202
    assert r1.content == r2.content
    # the same key on another path is another key
    other = pay(api, sb.base_url, amount=300)
    r3 = api.post(f"{sb.base_url}/payments/{other['id']}/refunds", json={"amount": 100}, headers=cap_h)
    assert r3.status_code in (202, 403)
    assert r3.content != r1.content


def test_errors_are_not_stored(sandbox_factory) -> None:
    sb = sandbox_factory(days=0)
    api = make_session()
    h = {"Cko-Idempotency-Key": "k-err"}
    bad = api.post(f"{sb.base_url}/payments", json={"amount": 100, "currency": "EUR"}, headers=h)
    assert bad.status_code == 422
    good = api.post(
        f"{sb.base_url}/payments", json={"source": CARD, "amount": 100, "currency": "EUR"}, headers=h
    )
    assert good.status_code == 201


def test_concurrent_duplicate_gets_409(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, fault_slow_share=1.0, slow_seconds=0.6)
    body = {"source": CARD, "amount": 100, "currency": "EUR"}
    results: list[requests.Response] = []

    def send() -> None:
        results.append(
            make_session().post(f"{sb.base_url}/payments", json=body, headers={"Cko-Idempotency-Key": "same"})
        )

    def received() -> int:
        calls = requests.get(f"{sb.base_url}/_sandbox/calls").json()["calls"]
        return int(calls.get("payments.request", {}).get("POST", 0))

    first = threading.Thread(target=send)
    first.start()
    # the sandbox counts a request and claims its key in one step of its event loop: once the
    # first request is counted, the second finds the key in flight
    wait_until(lambda: received() == 1)
    send()
    first.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409]
    conflict = next(r for r in results if r.status_code == 409)
    assert conflict.json()["request_id"] == conflict.headers["Cko-Request-Id"]
    assert len(sb.world.payments) == 1


def test_keys_expire_after_ttl(sandbox_factory) -> None:
    sb = sandbox_factory(days=0, idempotency_ttl_seconds=3600)
    api = make_session()
    body = {"source": CARD, "amount": 100, "currency": "EUR"}
    h = {"Cko-Idempotency-Key": "ttl"}
    a = api.post(f"{sb.base_url}/payments", json=body, headers=h).json()["id"]
    requests.post(f"{sb.base_url}/_sandbox/advance", json={"hours": 2, "payments_per_hour": 0})
    b = api.post(f"{sb.base_url}/payments", json=body, headers=h).json()["id"]
    assert a != b
