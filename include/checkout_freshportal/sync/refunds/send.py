"""Step 2: each pending refund request checked against its payment, then sent exactly once.

Per request: at most one ``GET /payments/{id}`` (validation against Checkout.com's balances
now) and one ``POST /payments/{id}/refunds`` (or ``/voids``) under the intent's idempotency key.
A request that fails validation is rejected with a stable code and nothing is sent. Intents a
crash or a lost answer left ``sending`` are resolved by :func:`recover_in_doubt`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.logsafe import safe
from checkout_freshportal.observability import bind
from checkout_freshportal.sync.intents import execute, store
from checkout_freshportal.sync.intents.store import REFUND, VOID, MoneyIntent
from checkout_freshportal.sync.refunds import reasons, validate
from checkout_freshportal.sync.refunds.payments import api_candidates, warehouse_candidates
from checkout_freshportal.sync.refunds.pull import request_key
from checkout_freshportal.sync.refunds.reasons import Rejection
from checkout_freshportal.sync.refunds.runner import RefundRun
from checkout_freshportal.warehouse import schema

log = logging.getLogger(__name__)

KINDS = (REFUND, VOID)


def body_of(intent: MoneyIntent, kind: str) -> dict[str, Any]:
    """The POST body, derived from the intent alone so a resend is byte-for-byte the same
    request (Checkout.com replays the first answer for the same key and body)."""
    body: dict[str, Any] = {
        "reference": intent.reference,
        "metadata": {"intent_id": intent.intent_id, "request_key": intent.request_key},
    }
    if kind == REFUND:
        body["amount"] = intent.amount_minor
    return body


def poster(run: RefundRun, intent: MoneyIntent, kind: str, payment_id: str) -> execute.Post:
    body = body_of(intent, kind)
    call = run.cko.refund_payment if kind == REFUND else run.cko.void_payment
    return lambda: call(payment_id, body, idempotency_key=intent.idempotency_key)


def send_pending(run: RefundRun) -> None:
    """Validate and send every pending request (bounded per run); one bad request blocks nobody.

    ``concurrency`` requests are in flight at once: one request is two round trips and three
    commits, so a single thread leaves most of the account's write limit unused. Each intent is
    claimed by compare-and-set, so the threads can never send one twice. A failure every request
    would hit (401) stops the run once the requests already in flight have finished.
    """
    with run.ctx.engine.connect() as conn:
        todo = store.in_states(conn, [store.PENDING], kinds=KINDS, limit=run.settings.max_requests_per_run)
    workers = min(run.settings.concurrency, len(todo))
    if workers <= 1:
        for intent in todo:
            run.ctx.count(_send_one(run, intent))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refunds") as pool:
        futures = [pool.submit(_send_one, run, intent) for intent in todo]
        try:
            for future in futures:
                run.ctx.count(future.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _send_one(run: RefundRun, intent: MoneyIntent) -> str:
    with bind(**store.log_ids(intent)):
        return _send_one_bound(run, intent)


def _send_one_bound(run: RefundRun, intent: MoneyIntent) -> str:
    rejection = validate.check_amount(intent.amount_minor, intent.currency) or _duplicate(run, intent)
    if rejection is not None:
        return _reject(run, intent, rejection, payment_id=None)
    try:
        payment = _payment_of(run, intent)
    except cko_errors.AuthenticationError:
        raise  # every request would hit it: stop the run
    except cko_errors.CheckoutError as exc:  # nothing was sent: the next run validates again
        what = execute.describe(exc)
        run.ctx.deferred.append(f"{intent.kind} {intent.request_key}: payment unreadable: {what}")
        return "deferred_payment_unreadable"
    decision = validate.decide(
        amount_minor=intent.amount_minor,
        currency=intent.currency,
        payment=payment,
        allow_voids=run.settings.allow_voids,
    )
    payment_id = str(payment["id"]) if payment is not None and payment.get("id") else None
    if isinstance(decision, Rejection):
        return _reject(run, intent, decision, payment_id=payment_id)
    if isinstance(decision, validate.Wait):  # nothing was sent: the next run validates again
        run.ctx.deferred.append(f"{intent.kind} {intent.request_key}: {decision.why}")
        return "deferred_balances_unknown"
    assert payment_id is not None
    return execute.send(
        run.ctx,
        intent,
        kind=decision.kind,
        payment_id=payment_id,
        post=poster(run, intent, decision.kind, payment_id),
    )


def _payment_of(run: RefundRun, intent: MoneyIntent) -> Mapping[str, Any] | None:
    """The best candidate payment as Checkout.com knows it now (None: there is none)."""
    with run.ctx.engine.connect() as conn:
        candidates = warehouse_candidates(
            conn, order_id=intent.order_id, order_number=intent.order_number, currency=intent.currency
        )
    if not candidates:
        candidates = api_candidates(run.cko, intent.order_number, intent.currency)
        run.ctx.count("payment_looked_up_by_reference")
    if not candidates:
        return None
    try:
        return run.cko.get_payment(candidates[0])
    except cko_errors.NotFoundError:
        return None


def _reject(run: RefundRun, intent: MoneyIntent, rejection: Rejection, *, payment_id: str | None) -> str:
    with run.ctx.engine.begin() as conn:
        done = store.record_rejected(
            conn, intent, code=rejection.code, text=rejection.text, payment_id=payment_id, now=run.ctx.clock()
        )
    if not done:
        return "raced"
    log.info("refund request %s rejected: %s", safe(intent.request_key), rejection.code)
    return f"rejected_{rejection.code}"


def _duplicate(run: RefundRun, intent: MoneyIntent) -> Rejection | None:
    """An earlier live request of the same order, amount, currency and reason, made within the
    window: FreshPortal's non-idempotent create made two (docs/refunds.md#reason-codes).

    A request's time is its ``requested_at``, or when we first saw it where FreshPortal sent
    none (the field is optional): a double click's two requests reach the same pull, so the
    check cannot switch itself off and let both be paid."""
    window = run.settings.duplicate_window
    if window <= timedelta(0):
        return None
    r, t = schema.stg_refund_requests, schema.sync_money_intents
    at = sa.func.coalesce(r.c.requested_at, r.c.first_seen_at)
    with run.ctx.engine.connect() as conn:
        mine = conn.execute(
            sa.select(r.c.refund_request_id, r.c.reason, at.label("at")).where(
                sa.literal("refund_request:") + r.c.refund_request_id == intent.request_key
            )
        ).first()
        if mine is None:
            return None
        rows = conn.execute(
            sa.select(r.c.refund_request_id, at, t.c.state)
            .join(t, t.c.request_key == sa.literal("refund_request:") + r.c.refund_request_id)
            .where(
                r.c.order_id == intent.order_id,
                r.c.refund_request_id != mine.refund_request_id,
                r.c.amount_minor == intent.amount_minor,
                r.c.currency == intent.currency,
                r.c.reason.is_(None) if mine.reason is None else r.c.reason == mine.reason,
            )
        ).all()
    dead = (store.REJECTED, store.CANCELLED, store.FAILED, store.DECLINED)  # a retry is no duplicate
    mine_at = mine.at
    for other_id, other_at, other_state in rows:
        if other_state in dead or abs(other_at - mine_at) > window:
            continue
        if (other_at, request_key(other_id)) < (mine_at, intent.request_key):
            minutes = int(window.total_seconds() // 60)
            return Rejection(
                reasons.DUPLICATE_REQUEST,
                f"Same order, amount and reason as refund request {other_id}, made within "
                f"{minutes} minute(s) of it; only the first is executed.",
            )
    return None


def recover_in_doubt(run: RefundRun) -> None:
    """Intents left ``sending`` longer than ``in_doubt_after``: find their action, else resend."""
    cutoff = run.ctx.clock() - run.settings.in_doubt_after
    with run.ctx.engine.connect() as conn:
        todo = [
            i
            for i in store.in_states(
                conn, [store.SENDING], kinds=KINDS, limit=run.settings.max_requests_per_run
            )
            if i.attempted_at is None or i.attempted_at <= cutoff
        ]
    window_start = run.ctx.clock() - run.settings.idempotency_window
    for intent in todo:
        assert intent.payment_id is not None
        if intent.first_attempted_at is not None and intent.first_attempted_at < window_start:
            # The key no longer makes a resend safe on its own: the lookup below decides.
            log.warning("intent %s in doubt past the idempotency window", intent.intent_id)
            run.ctx.count("in_doubt_past_window")
        try:
            actions = run.cko.get_payment_actions(intent.payment_id)
        except cko_errors.CheckoutError as exc:
            run.ctx.deferred.append(
                f"{intent.request_key}: in doubt, actions unreadable: {execute.describe(exc)}"
            )
            run.ctx.count("in_doubt_unresolved")
            continue
        post = poster(run, intent, intent.kind, intent.payment_id)
        run.ctx.count("in_doubt_" + execute.recover(run.ctx, intent, actions=actions, post=post))
