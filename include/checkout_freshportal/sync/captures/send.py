"""Step 2: each pending release checked against its payment, then captured exactly once.

Per release: one ``GET /payments/{id}`` (usually) and one ``POST /payments/{id}/captures``
under the intent's idempotency key, ``capture_type`` ``Final`` for the release that completes
the order and ``NonFinal`` before it. A release that fails validation is rejected with a stable
code and nothing is sent. Intents a crash or a lost answer left ``sending`` are resolved by
:func:`recover_in_doubt` before anything new is sent.

Order within one order matters: a ``Final`` capture releases the rest of the authorisation, so
it waits while an earlier capture of the same order is still unsent or in doubt, and no capture
is sent while another of its order is in doubt (its amount is unknown until it is resolved).
"""

from __future__ import annotations

import logging
from typing import Any

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.logsafe import safe
from checkout_freshportal.observability import bind
from checkout_freshportal.sync.captures import validate
from checkout_freshportal.sync.captures.payments import find_payment
from checkout_freshportal.sync.captures.reasons import Rejection
from checkout_freshportal.sync.captures.runner import CaptureRun
from checkout_freshportal.sync.intents import execute, store
from checkout_freshportal.sync.intents.store import CAPTURE, MoneyIntent

log = logging.getLogger(__name__)

KINDS = (CAPTURE,)


def body_of(intent: MoneyIntent) -> dict[str, Any]:
    """The POST body, derived from the intent alone so a resend is byte-for-byte the same
    request (Checkout.com replays the first answer for the same key and body)."""
    return {
        "amount": intent.amount_minor,
        "capture_type": "Final" if intent.final else "NonFinal",
        "reference": intent.reference,
        "metadata": {"intent_id": intent.intent_id, "request_key": intent.request_key},
    }


def poster(run: CaptureRun, intent: MoneyIntent, payment_id: str) -> execute.Post:
    body = body_of(intent)
    return lambda: run.cko.capture_payment(payment_id, body, idempotency_key=intent.idempotency_key)


def _order_key(intent: MoneyIntent) -> tuple[str, bool, str, str]:
    # Within an order: NonFinal first, then by release time; the Final one last.
    return (intent.order_id, bool(intent.final), str(intent.requested_at or ""), intent.request_key)


def send_pending(run: CaptureRun) -> None:
    """Validate and send every pending capture (bounded per run); one bad release blocks nobody."""
    with run.ctx.engine.connect() as conn:
        todo = store.in_states(conn, [store.PENDING], kinds=KINDS, limit=run.settings.max_captures_per_run)
    for intent in sorted(todo, key=_order_key):
        run.ctx.count(_send_one(run, intent))


def _siblings(run: CaptureRun, intent: MoneyIntent) -> list[MoneyIntent]:
    with run.ctx.engine.connect() as conn:
        return [
            i
            for i in store.of_order(conn, intent.order_id)
            if i.kind == CAPTURE and i.intent_id != intent.intent_id
        ]


def _blocked_by(intent: MoneyIntent, siblings: list[MoneyIntent]) -> str | None:
    if any(s.state == store.SENDING for s in siblings):
        return "another capture of this order is in doubt"
    if intent.final and any(s.state == store.PENDING and not s.final for s in siblings):
        return "an earlier release of this order is not captured yet"
    if intent.final and any(s.state == store.ACCEPTED for s in siblings):
        # Checkout.com processes captures asynchronously: a Final processed before an accepted
        # NonFinal would close the authorisation and make the NonFinal fail.
        return "an earlier capture of this order is accepted but not processed yet"
    return None


def _send_one(run: CaptureRun, intent: MoneyIntent) -> str:
    with bind(**store.log_ids(intent)):
        return _send_one_bound(run, intent)


def _send_one_bound(run: CaptureRun, intent: MoneyIntent) -> str:
    rejection = validate.check_amount(intent.amount_minor)
    if rejection is not None:
        return _reject(run, intent, rejection, payment_id=None)
    siblings = _siblings(run, intent)
    blocked = _blocked_by(intent, siblings)
    if blocked is not None:
        log.info("capture %s waits: %s", safe(intent.request_key), blocked)
        return "waiting"
    if intent.attempts > 0 and intent.payment_id is not None:
        return _resume(run, intent, intent.payment_id)
    try:
        payment, by_reference = find_payment(run.cko, run.ctx.engine, intent)
    except cko_errors.AuthenticationError:
        raise  # every release would hit it: stop the run
    except cko_errors.CheckoutError as exc:
        # A read failed after the client's retries: this release waits for the next run; the
        # others are still served (nothing was sent, the intent stays pending).
        run.ctx.deferred.append(f"{intent.request_key}: payment unreadable: {execute.describe(exc)}")
        return "deferred_lookup"
    if by_reference:
        run.ctx.count("payment_looked_up_by_reference")
    payment_id = str(payment["id"]) if payment is not None and payment.get("id") else None
    in_flight = sum(
        s.amount_minor for s in siblings if s.state == store.ACCEPTED and s.payment_id == payment_id
    )
    decision = validate.decide(
        amount_minor=intent.amount_minor,
        currency=intent.currency,
        final=bool(intent.final),
        payment=payment,
        now=run.ctx.clock(),
        is_manual=run.settings.is_manual,
        in_flight_minor=in_flight,
    )
    if isinstance(decision, Rejection):
        return _reject(run, intent, decision, payment_id=payment_id)
    if isinstance(decision, validate.Wait):
        log.info("capture %s waits: %s", safe(intent.request_key), decision.why)
        return "waiting"
    assert payment_id is not None
    return execute.send(
        run.ctx, intent, kind=CAPTURE, payment_id=payment_id, post=poster(run, intent, payment_id)
    )


def _resume(run: CaptureRun, intent: MoneyIntent, payment_id: str) -> str:
    """A pending intent that was sent before: a later attempt of the client's retries was
    answered 429 (or never connected), which released it, but an earlier attempt may have been
    processed. Validating it again would see its own capture in the balance and reject it, so
    it is resolved like an intent in doubt instead: its action looked up by reference, and only
    if absent sent again under the same idempotency key (a replay if it was processed after
    all); Checkout.com refuses it (``refused_by_checkout``) if the payment can no longer take it.
    """
    try:
        actions = run.cko.get_payment_actions(payment_id)
    except cko_errors.AuthenticationError:
        raise
    except cko_errors.CheckoutError as exc:
        run.ctx.deferred.append(f"{intent.request_key}: actions unreadable: {execute.describe(exc)}")
        return "deferred_lookup"
    now = run.ctx.clock()
    with run.ctx.engine.begin() as conn:
        if not store.claim(conn, intent, kind=CAPTURE, payment_id=payment_id, now=now, run_id=run.ctx.run_id):
            return "raced"
        claimed = store.get(conn, intent.intent_id)
    assert claimed is not None
    return "resumed_" + execute.recover(
        run.ctx, claimed, actions=actions, post=poster(run, intent, payment_id)
    )


def _reject(run: CaptureRun, intent: MoneyIntent, rejection: Rejection, *, payment_id: str | None) -> str:
    with run.ctx.engine.begin() as conn:
        done = store.record_rejected(
            conn, intent, code=rejection.code, text=rejection.text, payment_id=payment_id, now=run.ctx.clock()
        )
    if not done:
        return "raced"
    log.info("release %s not captured: %s", safe(intent.request_key), rejection.code)
    return f"rejected_{rejection.code}"


def recover_in_doubt(run: CaptureRun) -> None:
    """Intents left ``sending`` longer than ``in_doubt_after``: find their action, else resend."""
    cutoff = run.ctx.clock() - run.settings.in_doubt_after
    with run.ctx.engine.connect() as conn:
        todo = [
            i
            for i in store.in_states(
                conn, [store.SENDING], kinds=KINDS, limit=run.settings.max_captures_per_run
            )
            if i.attempted_at is None or i.attempted_at <= cutoff
        ]
    for intent in todo:
        assert intent.payment_id is not None
        try:
            actions = run.cko.get_payment_actions(intent.payment_id)
        except cko_errors.CheckoutError as exc:
            run.ctx.deferred.append(
                f"{intent.request_key}: in doubt, actions unreadable: {execute.describe(exc)}"
            )
            run.ctx.count("in_doubt_unresolved")
            continue
        post = poster(run, intent, intent.payment_id)
        run.ctx.count("in_doubt_" + execute.recover(run.ctx, intent, actions=actions, post=post))
