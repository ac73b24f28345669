"""Never twice: crashes at every point, concurrent runs, and a resend past the idempotency window.

The count that matters is Checkout.com's own: refund actions on the payment, read from the
simulator's API after everything settled.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from refunds_fixtures import RefundWorld, executed, fast_settings

from checkout_freshportal.sync.intents import store
from checkout_freshportal.sync.intents.execute import CHECKPOINTS
from checkout_freshportal.sync.refunds import service


class Crash(BaseException):
    """A process dying at a checkpoint (BaseException: nothing in the library may swallow it)."""


def _crash_once(point: str) -> Any:
    fired: list[str] = []

    def checkpoint(at: str, intent_id: str) -> None:
        if at == point and not fired:
            fired.append(intent_id)
            raise Crash(f"crash at {at} for {intent_id}")

    return checkpoint, fired


@pytest.mark.parametrize("point", CHECKPOINTS)
def test_a_crash_at_any_point_never_doubles_a_refund(refund_world: RefundWorld, point: str) -> None:
    w = refund_world
    w.pay("FP-400001", 10000)
    w.pay("FP-400002", 5000)
    w.settle()
    first = w.request_refund("FP-400001", 4000)
    second = w.request_refund("FP-400002", 5000)
    checkpoint, fired = _crash_once(point)

    def until_the_crash() -> None:
        for _ in range(3):  # the crash point may only be reached in a later step or round
            w.settle()
            w.run(checkpoint=checkpoint)

    with pytest.raises(Crash):
        until_the_crash()
    assert fired
    for _ in range(4):
        w.settle()
        w.run()
    intents = w.intents()
    assert {intents[first]["state"], intents[second]["state"]} == {store.SUCCEEDED}
    assert executed(w) == {"FP-400001": 1, "FP-400002": 1}
    fp = w.fp_requests()
    assert fp[first]["status"] == fp[second]["status"] == "refunded"


def test_two_runs_at_the_same_moment_refund_each_request_once(refund_world: RefundWorld) -> None:
    w = refund_world
    numbers = ["FP-400001", "FP-400002", "FP-400005", "FP-400008"]
    for n in numbers:
        w.pay(n, 4000)
    w.settle()
    for n in numbers:
        w.request_refund(n, 1000)
        w.request_refund(n, 500, reason="second")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            start.wait()
            service.run_all(fp=w.fp, cko=w.cko, engine=w.engine, settings=fast_settings(in_doubt_after="1h"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for _ in range(3):
        w.settle()
        w.run()
    assert executed(w) == {n: 2 for n in numbers}
    assert {i["state"] for i in w.intents().values()} == {store.SUCCEEDED}


def test_a_resend_after_the_idempotency_window_finds_the_refund_first(refund_world: RefundWorld) -> None:
    """The answer of the POST was lost and a day passed: the key no longer protects a resend,
    so the intent looks for its action (by the reference it sent) and records it instead."""
    w = refund_world
    w.pay("FP-400001", 10000)
    w.settle()
    rid = w.request_refund("FP-400001", 2500)
    checkpoint, fired = _crash_once("after_post")
    with pytest.raises(Crash):
        w.run(checkpoint=checkpoint)
    assert fired
    assert w.intents()[rid]["state"] == store.SENDING
    w.cko_sb.state.clock.advance(timedelta(hours=25))
    w.run()
    i = w.intents()[rid]
    assert i["state"] in (store.ACCEPTED, store.SUCCEEDED)
    assert i["attempts"] == 1  # found, not sent again
    for _ in range(3):
        w.settle()
        w.run()
    assert w.intents()[rid]["state"] == store.SUCCEEDED
    assert executed(w) == {"FP-400001": 1}
