"""Review findings on the refund sync (issue 8): each test states a requirement the code misses.

Both simulators are real; where a failure has to be forced deterministically, a thin wrapper
around the real Checkout.com client lets the real call happen and then surfaces the error the
client's own retry loop surfaces in that situation (a processed first attempt whose answer was a
5xx, then 429s until the retries ran out: ``reraise=True`` gives the *last* attempt's error).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from refunds_fixtures import RefundWorld, executed, fast_settings

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.sync.intents import execute, store
from checkout_freshportal.sync.intents.execute import Context
from checkout_freshportal.sync.refunds import service
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade


class ProcessedThenRateLimited:
    """The real client, except that the first refund/void POST is executed by Checkout.com and
    its answer is lost behind 429s: what ``CheckoutClient`` raises after a processed 500
    followed by 429 on every retry."""

    def __init__(self, real: CheckoutClient) -> None:
        self.real = real
        self.fired = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _lose(self, answer: Any, path: str) -> Any:
        if self.fired:
            return answer
        self.fired += 1
        raise cko_errors.RateLimitedError("rate limited", status=429, method="POST", path=path)

    def refund_payment(self, payment_id: str, body: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self._lose(self.real.refund_payment(payment_id, body, **kw), f"payments/{payment_id}/refunds")

    def void_payment(self, payment_id: str, body: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self._lose(self.real.void_payment(payment_id, body, **kw), f"payments/{payment_id}/voids")


def _run(w: RefundWorld, cko: Any, **settings: Any) -> None:
    service.run_all(fp=w.fp, cko=cko, engine=w.engine, settings=fast_settings(**settings))


def test_processed_post_surfacing_as_429_is_not_answered_failed(refund_world: RefundWorld) -> None:
    """disposition.py:42 reads the *last* attempt's 429 as "never sent" and execute.py:127
    releases the intent to ``pending``; send_pending then re-validates it against balances that
    already include its own refund and rejects it: FreshPortal is told ``failed`` while the
    customer was refunded, and the action id is never recorded."""
    w = refund_world
    w.pay("FP-400001", 10000)
    w.settle()
    rid = w.request_refund("FP-400001", 10000)
    cko = ProcessedThenRateLimited(w.cko)
    _run(w, cko)
    assert cko.fired == 1  # Checkout.com accepted the refund; its answer was lost
    for _ in range(4):
        w.settle()
        w.run()
    intent = w.intents()[rid]
    assert executed(w) == {"FP-400001": 1}
    assert intent["state"] == store.SUCCEEDED, (intent["state"], intent["reason_code"])
    assert w.fp_requests()[rid]["status"] == "refunded"


def test_released_intent_is_not_resent_blind_after_the_idempotency_window(refund_world: RefundWorld) -> None:
    """A released (``pending``) intent is resent by send_pending without the action lookup that
    recover() does (docs/refunds.md:112 "the lookup runs before every resend" is not true for
    it). Once Checkout.com's 24 h key window has passed, the resend is a second refund."""
    w = refund_world
    w.pay("FP-400001", 10000)
    w.settle()
    rid = w.request_refund("FP-400001", 4000)
    cko = ProcessedThenRateLimited(w.cko)
    _run(w, cko)
    assert cko.fired == 1
    w.settle()
    w.cko_sb.state.clock.advance(timedelta(hours=25))  # e.g. an outage or a paused DAG
    for _ in range(3):
        w.settle()
        w.run()
    assert executed(w) == {"FP-400001": 1}  # money moved twice
    assert w.intents()[rid]["state"] == store.SUCCEEDED


class PaymentReadFails:
    """The real client, except that reading one payment fails (5xx after the client's retries)."""

    def __init__(self, real: CheckoutClient, payment_id: str) -> None:
        self.real = real
        self.payment_id = payment_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_payment(self, payment_id: str) -> Any:
        if payment_id == self.payment_id:
            raise cko_errors.ServerError("bad gateway", status=502, method="GET", path="payments/x")
        return self.real.get_payment(payment_id)


def test_one_unreadable_payment_blocks_no_other_request(refund_world: RefundWorld) -> None:
    """send.py:93 catches only NotFoundError around GET /payments/{id}: any other error escapes
    _send_one, aborts send_pending (queued futures cancelled, send.py:73-76) and the step fails
    with a raw ServerError, not RefundsDeferred. The oldest request is first every run, so one
    payment whose read keeps failing blocks every refund behind it."""
    w = refund_world
    bad = w.pay("FP-400001", 10000)
    w.pay("FP-400002", 5000)
    w.settle()
    w.request_refund("FP-400001", 1000)
    good = w.request_refund("FP-400002", 1000)
    cko = PaymentReadFails(w.cko, bad)
    s = fast_settings(concurrency=1)
    service.run_step("pull", fp=w.fp, cko=cko, engine=w.engine, settings=s)
    with pytest.raises(service.RefundsDeferred):
        service.run_step("execute", fp=w.fp, cko=cko, engine=w.engine, settings=s)
    assert w.intents()[good]["state"] != store.PENDING


def state_of(engine: sa.Engine, intent_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(sa.select(store.T.c.state).where(store.T.c.intent_id == intent_id)).scalar_one()
        )


def test_a_stale_runner_cannot_release_a_newer_claim(migrated_warehouse_url: str) -> None:
    """store.release / record_failed / record_in_doubt guard on ``state = 'sending'`` only, not
    on the attempt (store.py:278, 291, 298). Run A's POST (attempt 1) outlives in_doubt_after
    (2 min; one POST with the client's 6 attempts x 60 s read timeout can take > 6 min); run B
    recovers and claims attempt 2; A's final 429 releases B's claim to ``pending``, so B's 202
    cannot be recorded (record_accepted wants ``sending``) and the action id is lost."""
    engine = make_engine(migrated_warehouse_url)
    upgrade(engine)
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            pending, _ = store.insert(
                conn,
                kind=store.REFUND,
                request_key="refund_request:rr_review_1",
                order_id="o1",
                order_number="FP-1",
                currency="EUR",
                amount_minor=100,
                now=now,
                run_id="a",
            )
            assert store.claim(conn, pending, kind=store.REFUND, payment_id="pay_1", now=now, run_id="a")
            run_a = store.get(conn, pending.intent_id)
        assert run_a is not None
        later = now + timedelta(minutes=3)
        with engine.begin() as conn:  # run B: recover() re-claims the in-doubt intent
            assert store.claim(conn, run_a, kind=store.REFUND, payment_id="pay_1", now=later, run_id="b")
            run_b = store.get(conn, pending.intent_id)
        assert run_b is not None
        assert run_b.attempts == 2
        ctx = Context(engine=engine, clock=lambda: later, run_id="a")
        rate_limited = cko_errors.RateLimitedError("rate limited", status=429, method="POST", path="p")
        execute._post_failed(ctx, run_a, rate_limited)  # run A's POST finally fails with a 429
        released = state_of(engine, run_a.intent_id) == store.PENDING
        outcome = execute._post_and_record(ctx, run_b, lambda: {"action_id": "act_1"})  # B's 202
        recorded = outcome == "accepted"
        state = state_of(engine, run_b.intent_id)
        assert not released, "a stale attempt released a newer claim"
        assert recorded
        assert state == store.ACCEPTED
    finally:
        engine.dispose()


def test_a_request_edited_before_execution_refunds_the_edited_amount(refund_world: RefundWorld) -> None:
    """pull.py:80 ``store.insert`` is ON CONFLICT DO NOTHING: a pending request whose amount was
    changed in FreshPortal (new ``version``) keeps the amount first seen. The refund moves the
    old amount, and the answer (refunded > requested) is then refused by FreshPortal (422),
    given up (writeback.py:61) and never lands on the request."""
    w = refund_world
    pid = w.pay("FP-400001", 10000)
    w.settle()
    rid = w.request_refund("FP-400001", 5000)
    s = fast_settings()
    service.run_step("pull", fp=w.fp, cko=w.cko, engine=w.engine, settings=s)
    r = requests.patch(
        f"{w.fp_sb.base_url}/_sandbox/refund-requests/{rid}", json={"amount_minor": 3000}, timeout=10
    )
    assert r.status_code == 200, r.text
    for _ in range(4):
        w.settle()
        w.run()
    amounts = [a["amount"] for a in w.actions(pid, "Refund")]
    assert amounts == [3000]
    assert w.fp_requests()[rid]["status"] == "refunded"


@pytest.mark.airflow
def test_outcomes_and_in_doubt_recovery_do_not_depend_on_the_feed(dagbag: Any) -> None:
    """dags/freshportal_refunds.py:103 chains pull >> execute >> resolve with the default
    ``all_success``: one malformed request in the FreshPortal feed (the page parse raises
    DataError, permanent, no retry) or a failed execute (RefundsRefused after any 4xx) skips
    resolve_outcomes, so accepted refunds get no outcome and in-doubt intents are not recovered
    for as long as the feed stays broken. Only write_back runs ``all_done``."""
    dag = dagbag.get_dag("freshportal_refunds")
    assert dag.get_task("execute_refunds").trigger_rule != "all_success"
    assert dag.get_task("resolve_outcomes").trigger_rule != "all_success"
