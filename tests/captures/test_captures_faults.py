"""1,000 captures under 20 % injected faults on both APIs and injected crashes: exactly once.

Issue 8: "with 20 % injected 429 / 500 / timeouts on both APIs, and a crash injected between the
call and the write-back: the expected captures at Checkout.com (counted in the simulator), none
twice, every outcome written back". The clients get one retry only, so most faults reach the
sync itself (deferred, released or left in doubt) instead of being absorbed by the transport.
Each loop turn is what a task retry or the next scheduled run would do.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator

import pytest
from cap_fixtures import (
    World,
    checkout_client,
    close_world,
    freshportal_client,
    make_world,
    order_specs,
    settings,
)

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.sync.captures import service
from checkout_freshportal.sync.intents import store

pytestmark = pytest.mark.slow

ORDERS = 800
TWO_RELEASES = 200  # 4,000 NonFinal then 5,000 Final; the other 600: one Final of 7,000
# 20 % of all calls on each side; timeouts are the fewest only because each costs wall time.
CHECKOUT_FAULTS = {
    "fault_429_share": 0.06,
    "fault_500_share": 0.05,
    "fault_slow_share": 0.02,
    "fault_after_500_share": 0.05,
    "fault_after_timeout_share": 0.02,
    "slow_seconds": 0.15,
}
FRESHPORTAL_FAULTS = {
    "fault_429_share": 0.07,
    "fault_500_share": 0.06,
    "fault_slow_share": 0.02,
    "fault_500_after_commit_share": 0.05,
    "slow_seconds": 0.15,
}


class Crash(RuntimeError):
    pass


@pytest.fixture
def big_world(migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("CFP_FRESHPORTAL_MAPPING", raising=False)
    w = make_world(migrated_sqlite_url, order_specs(ORDERS), read_rps=0, write_rps=0)
    try:
        yield w
    finally:
        close_world(w)


def _crash_at(intent_id: str) -> str | None:
    """About one intent in 50 crashes once, at one of the points between POST and write-back."""
    h = int(hashlib.sha256(intent_id.encode()).hexdigest()[:8], 16)
    if h % 50:
        return None
    return ("after_post", "after_record", "before_writeback")[h // 50 % 3]


def test_a_thousand_captures_under_faults_and_crashes(big_world: World) -> None:
    w = big_world
    payments = {spec["order_number"]: w.authorise(spec["order_number"]) for spec in order_specs(ORDERS)}
    expected: Counter[str] = Counter()
    for i, number in enumerate(payments):
        if i < TWO_RELEASES:
            w.release(number, 4_000, complete=False)
            w.release(number, 5_000, complete=True)
            expected[number] = 9_000
        else:
            w.release(number, 7_000, complete=True)
            expected[number] = 7_000
    w.cko_admin("POST", "/faults", CHECKOUT_FAULTS)
    w.fp_admin("POST", "/faults", FRESHPORTAL_FAULTS)
    cko = checkout_client(w.cko_sb, max_retries=1, timeout=(2.0, 0.1), read_rps=0, write_rps=0)
    fp = freshportal_client(w.fp_sb, max_retries=1, timeout=(2.0, 0.1))
    crashed: set[str] = set()

    def checkpoint(point: str, intent_id: str) -> None:
        if intent_id not in crashed and _crash_at(intent_id) == point:
            crashed.add(intent_id)
            raise Crash(point)

    outcomes: Counter[str] = Counter()
    for _turn in range(100):
        try:
            service.run_all(
                fp=fp, cko=cko, engine=w.engine, settings=settings(), clock=w.now, checkpoint=checkpoint
            )
            outcomes["run_completed"] += 1
        except Crash:
            outcomes["crash"] += 1
        except (cko_errors.CheckoutError, fp_errors.FreshPortalError):
            outcomes["run_failed"] += 1  # a task failure: Airflow retries it
        intents = list(w.intents().values())
        if len(intents) == ORDERS + TWO_RELEASES and all(
            i["state"] == store.SUCCEEDED and i["written_back_status"] == store.WB_SUCCEEDED for i in intents
        ):
            break
    cko.close()
    fp.close()
    w.cko_admin("POST", "/faults", dict.fromkeys(CHECKOUT_FAULTS, 0))
    w.fp_admin("POST", "/faults", dict.fromkeys(FRESHPORTAL_FAULTS, 0))

    intents = w.intents()
    states = Counter(i["state"] for i in intents.values())
    odd = [
        (i["request_key"], i["reason_code"], i["reason_text"])
        for i in intents.values()
        if i["state"] != "succeeded"
    ]
    assert states == {store.SUCCEEDED: ORDERS + TWO_RELEASES}, (states, outcomes, odd[:5])
    assert all(i["written_back_status"] == store.WB_SUCCEEDED for i in intents.values())
    assert len(crashed) > 10, "the crash injection did not bite"
    assert outcomes["crash"] == len(crashed)

    # Counted in the simulator: one capture per release, none twice, the right amounts.
    ours = {i["intent_id"] for i in intents.values()}
    by_payment = {pid: number for number, pid in payments.items()}
    captures = [c for c in w.captures() if c["payment_id"] in by_payment]
    assert len(captures) == ORDERS + TWO_RELEASES
    assert Counter(c["reference"] for c in captures) == Counter(ours)
    captured: Counter[str] = Counter()
    for c in captures:
        captured[by_payment[c["payment_id"]]] += c["amount"]
    assert captured == expected
    # Every Final capture released the rest: nothing is left to capture on any payment.
    sample = list(payments.values())[:: ORDERS // 20]
    assert all(w.payment(pid)["balances"]["available_to_capture"] == 0 for pid in sample)

    # Every outcome written back, once: one note per release despite duplicate-create faults.
    state = w.fp_admin("GET", "/state")
    refs = Counter(
        n["external_ref"] for n in state["notes"] if str(n.get("external_ref", "")).startswith("cfp-")
    )
    assert len(refs) == ORDERS + TWO_RELEASES
    assert max(refs.values()) == 1, [r for r, n in refs.items() if n > 1][:5]
