"""Refund requests end to end: validation codes, refunds and voids executed once, answers written.

Real simulators on loopback; what Checkout.com executed is read back from its own API.
"""

from __future__ import annotations

from refunds_fixtures import RefundWorld, executed, fast_settings

from checkout_freshportal.sync.intents import store
from checkout_freshportal.sync.refunds import reasons

from events_fixtures import session


def _final(world: RefundWorld, rounds: int = 6) -> None:
    """Run the sync until every intent is final and answered (webhooks arrive in between)."""
    for _ in range(rounds):
        world.settle()
        world.run()
        intents = world.intents().values()
        if all(i["state"] in store.FINAL_STATES for i in intents) and not any(
            i["writeback_status"] and i["writeback_status"] != i["written_back_status"] for i in intents
        ):
            return
    raise AssertionError(f"not final after {rounds} rounds: {world.intents()}")


def test_every_case_gets_its_outcome_and_only_valid_ones_move_money(refund_world: RefundWorld) -> None:
    w = refund_world
    w.pay("FP-400001", 10000)
    w.pay("FP-400002", 5000)
    w.pay("FP-400003", 5000)
    w.pay("FP-400004", 7000, "EUR")
    w.pay("FP-400005", 8000, capture=False)
    w.pay("FP-400006", 8000, capture=False)
    w.pay("FP-400008", 4000)
    w.settle()
    # A refund made in the Checkout.com dashboard: FreshPortal does not know of it.
    dashboard = session().post(
        f"{w.cko_sb.base_url}/payments/{w.payments['FP-400003']}/refunds", json={"amount": 2000}
    )
    assert dashboard.status_code == 202, dashboard.text
    w.wait_event("payment_refunded")  # landed: Checkout.com's balances show it
    full = w.request_refund("FP-400001", 10000)
    part1 = w.request_refund("FP-400002", 2000)
    part2 = w.request_refund("FP-400002", 1500, reason="late_delivery")
    over = w.request_refund("FP-400003", 4000)  # only 3000 left after the dashboard refund
    wrong_ccy = w.request_refund("FP-400004", 7000)
    void = w.request_refund("FP-400005", 8000)
    uncaptured = w.request_refund("FP-400006", 3000)
    no_payment = w.request_refund("FP-400007", 3000)
    dup_first = w.request_refund("FP-400008", 1000, duplicate=True)
    dup_second = str(int(dup_first) + 1)

    _final(w)
    intents = w.intents()
    fp = w.fp_requests()

    expected = {
        full: ("succeeded", None, 10000, "refund"),
        part1: ("succeeded", None, 2000, "refund"),
        part2: ("succeeded", None, 1500, "refund"),
        over: ("rejected", reasons.AMOUNT_EXCEEDS_REFUNDABLE, None, "refund"),
        wrong_ccy: ("rejected", reasons.CURRENCY_MISMATCH, None, "refund"),
        void: ("succeeded", None, 8000, "void"),
        uncaptured: ("rejected", reasons.PAYMENT_NOT_CAPTURED, None, "refund"),
        no_payment: ("rejected", reasons.PAYMENT_NOT_FOUND, None, "refund"),
        dup_first: ("succeeded", None, 1000, "refund"),
        dup_second: ("rejected", reasons.DUPLICATE_REQUEST, None, "refund"),
    }
    for rid, (state, code, amount, kind) in expected.items():
        i = intents[rid]
        assert (i["state"], i["reason_code"], i["kind"]) == (state, code, kind), (rid, i)
        if amount is not None:
            assert i["outcome_amount_minor"] == amount, (rid, i)
            assert i["action_id"]
        outcome = fp[rid]["outcome"]
        assert outcome is not None, rid
        if state == "succeeded":
            assert fp[rid]["status"] == "refunded", fp[rid]
            assert outcome["psp_refund_id"] == i["action_id"]
        else:
            assert fp[rid]["status"] == "failed", fp[rid]
            assert outcome["failure_reason"].startswith(f"{code}: "), outcome

    # Checkout.com executed exactly the valid ones, once each.
    counts = executed(w)
    assert counts == {
        "FP-400001": 1,
        "FP-400002": 2,
        "FP-400003": 1,  # the dashboard refund, nothing more
        "FP-400004": 0,
        "FP-400005": 1,
        "FP-400006": 0,
        "FP-400008": 1,
    }
    assert w.payment(w.payments["FP-400002"])["balances"]["total_refunded"] == 3500
    assert w.payment(w.payments["FP-400005"])["status"] == "Voided"

    # A further run changes nothing and calls nothing that writes.
    before = w.intents()
    w.run()
    assert w.intents() == before
    assert executed(w) == counts


def test_void_disabled_rejects_with_its_own_code(refund_world: RefundWorld) -> None:
    w = refund_world
    w.pay("FP-400005", 8000, capture=False)
    w.settle()
    rid = w.request_refund("FP-400005", 8000)
    w.run(fast_settings(allow_voids=False))
    i = w.intents()[rid]
    assert (i["state"], i["reason_code"]) == ("rejected", reasons.VOID_NOT_ALLOWED)
    assert executed(w)["FP-400005"] == 0
