"""1,000 refund requests through 20 % injected faults on both APIs and a crash: exactly once.

Checkout.com (simulator): 429, 500, slow answers past the client's read timeout, and requests
*processed, then answered 500 or 504* -- the case that doubles a refund for a client that resends
without its key. FreshPortal (simulator): 429, 500, slow answers, writes stored then answered 500.
A crash is injected once between the refund call and recording its action id. The simulator's
ledger of executed refunds is the judge: one per valid request, none twice, every outcome written.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from refunds_fixtures import RefundWorld, fast_settings, order

from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.checkout.settings import CheckoutSettings
from checkout_freshportal.sync.intents import store
from checkout_freshportal.sync.refunds import service

pytestmark = pytest.mark.slow

N = 1000
ORDERS = [order(f"FP-5{i:05d}", "EUR", 8000) for i in range(N)]  # paid 5000 each


class Crash(BaseException):
    pass


def _faults(w: RefundWorld, on: bool) -> None:
    # 20 % of Checkout.com calls: 6 % 429, 5 % 500, 2 % slow (not processed), 5 % processed
    # then 500, 2 % processed then a timeout.
    shares = (0.06, 0.05, 0.02, 0.05, 0.02) if on else (0.0,) * 5
    body: dict[str, Any] = {
        "fault_429_share": shares[0],
        "fault_500_share": shares[1],
        "fault_slow_share": shares[2],
        "fault_after_500_share": shares[3],
        "fault_after_timeout_share": shares[4],
        "slow_seconds": 0.15,
    }
    r = requests.post(f"{w.cko_sb.base_url}/_sandbox/faults", json=body, timeout=10)
    assert r.status_code == 200, r.text
    fp_body = {
        "fault_429_share": 0.07 if on else 0.0,
        "fault_500_share": 0.06 if on else 0.0,
        "fault_slow_share": 0.02 if on else 0.0,
        "fault_500_after_commit_share": 0.05 if on else 0.0,
        "slow_seconds": 0.15,
    }
    r = requests.post(f"{w.fp_sb.base_url}/_sandbox/faults", json=fp_body, timeout=10)
    assert r.status_code == 200, r.text


def _ledger(w: RefundWorld) -> dict[str, list[dict[str, Any]]]:
    r = requests.get(f"{w.cko_sb.base_url}/_sandbox/actions", params={"type": "refund"}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json()["payments"])


# PostgreSQL only (the deployment's warehouse); SQLite runs every other refund test, and this one
# passes there too (the suite's time budget affords it once).
@pytest.mark.parametrize("warehouse_kind", [pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("refund_world", [ORDERS], indirect=True)
def test_a_thousand_refunds_under_faults_and_a_crash_happen_exactly_once(refund_world: RefundWorld) -> None:
    w = refund_world
    for i in range(N):
        w.pay(f"FP-5{i:05d}", 5000)
    w.settle()
    requested: dict[str, tuple[str, int]] = {}
    for i in range(N):
        number = f"FP-5{i:05d}"
        amount = 6000 if i % 50 == 7 else 1000 + (i % 40) * 100  # every 50th asks too much
        requested[w.request_refund(number, amount)] = (number, amount)
    declined = {f"FP-5{i:05d}" for i in range(3, N, 97)}
    for number in declined:
        r = requests.post(
            f"{w.cko_sb.base_url}/_sandbox/declines",
            json={"type": "refund", "payment_id": w.payments[number], "response_code": "20051"},
            timeout=10,
        )
        assert r.status_code == 201, r.text

    # A client whose read timeout is shorter than the slow answers: those become timeouts.
    w.cko = CheckoutClient(
        CheckoutSettings(
            base_url=w.cko_sb.base_url,
            secret_key=w.cko.settings.secret_key,
            timeout=(2.0, 0.1),
            backoff_base=0.001,
            backoff_cap=0.01,
            conflict_wait=0.05,
            read_rps=0,
            write_rps=0,
        )
    )
    _faults(w, on=True)
    crashed: list[str] = []

    def crash_once(point: str, intent_id: str) -> None:
        if point == "after_post" and not crashed:
            crashed.append(intent_id)
            raise Crash(intent_id)

    rounds = 0
    settings = fast_settings(max_requests_per_run=N, max_writebacks_per_run=2 * N)
    while rounds < 25:
        rounds += 1
        w.settle()
        try:
            service.run_all(fp=w.fp, cko=w.cko, engine=w.engine, settings=settings, checkpoint=crash_once)
        except Crash:
            continue
        intents = w.intents()
        if all(i["state"] in store.FINAL_STATES for i in intents.values()) and not any(
            i["writeback_status"] and i["writeback_status"] != i["written_back_status"]
            for i in intents.values()
        ):
            break
    _faults(w, on=False)
    assert crashed, "the crash was never injected"

    intents = w.intents()
    assert len(intents) == N
    ledger = _ledger(w)
    per_payment = Counter({pid: len(entries) for pid, entries in ledger.items()})
    fp = w.fp_requests()
    for rid, (number, amount) in requested.items():
        i = intents[rid]
        pid = w.payments[number]
        if amount > 5000:
            assert (i["state"], i["reason_code"]) == ("rejected", "amount_exceeds_refundable"), i
            assert per_payment[pid] == 0
            assert fp[rid]["status"] == "failed"
            continue
        assert per_payment[pid] == 1, (number, ledger.get(pid))  # executed exactly once
        assert ledger[pid][0]["amount"] == amount
        if number in declined:
            assert (i["state"], i["response_code"]) == ("declined", "20051"), i
            assert fp[rid]["status"] == "failed"
            assert "20051" in fp[rid]["outcome"]["failure_reason"]
        else:
            assert i["state"] == "succeeded", i
            assert fp[rid]["status"] == "refunded", fp[rid]
            assert fp[rid]["outcome"]["psp_refund_id"] == i["action_id"]
    calls = requests.get(f"{w.cko_sb.base_url}/_sandbox/calls", timeout=10).json()
    # The dangerous faults really happened: refunds executed, then answered 500 or a timeout.
    assert sum(calls["processed_then_failed"].values()) > 10, calls["processed_then_failed"]
