"""One intent's life from its row to Checkout.com's answer: write it, POST it, record the outcome.

The order of commits here is the whole safety argument (docs/payment-requests.md): the intent
row exists before the POST, ``creating`` is committed before the POST, and the link id is
committed the moment the 201 arrives. A crash between the last two leaves the intent in doubt,
never a second link.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.freshportal.models import Order
from checkout_freshportal.logsafe import safe
from checkout_freshportal.observability import bind
from checkout_freshportal.sync.intents.disposition import Disposition, classify
from checkout_freshportal.sync.payment_links import store
from checkout_freshportal.sync.payment_links.body import (
    IntentKey,
    LinkDataError,
    base_version,
    link_body,
    strip_renewal,
    with_renewal,
)
from checkout_freshportal.sync.payment_links.runner import CheckoutLinks, Runner, describe
from checkout_freshportal.timeutil import TimestampError, parse_api_ts

log = logging.getLogger(__name__)


def post_payment_link(cko: CheckoutLinks, body: Mapping[str, Any], idempotency_key: str) -> dict:
    """POST the link, with ``Cko-Idempotency-Key`` when the client can send one.

    The key is undocumented for ``/payment-links``: if Checkout.com honours it, a resend after a
    lost answer returns the same link; if not, it is ignored. It costs nothing to send.
    """
    create = cko.create_payment_link
    try:
        accepts_key = "idempotency_key" in inspect.signature(create).parameters
    except (TypeError, ValueError):
        accepts_key = False
    if accepts_key:
        return create(body, idempotency_key=idempotency_key)  # type: ignore[call-arg]
    return create(body)


def new_intent(
    run: Runner, order: Order, old: store.Intent | None, *, reason: str | None, renewal_no: int = 0
) -> str:
    """Write the new intent (and retire ``old``) in one transaction, then send it."""
    now = run.clock()
    with run.engine.begin() as conn:
        store.lock_order(conn, order.order_id)
        latest = store.current_intent(conn, order.order_id)
        if (latest.intent_id if latest else None) != (old.intent_id if old else None):
            return "raced"
        if old is not None and renewal_no > 0:
            base = strip_renewal(old.order_version)
        else:
            base = base_version(
                order.version,
                order.currency,
                order.amount_minor,
                fallback=len(store.intents_of_order(conn, order.order_id)),
            )
        n = renewal_no
        while store.version_taken(conn, order.order_id, with_renewal(base, n)):
            n += 1
        key = IntentKey(order.order_id, with_renewal(base, n))
        if old is not None:
            assert reason is not None
            if not store.supersede(conn, old, by=key.intent_id, reason=reason, now=now):
                return "raced"
        intent = store.insert_intent(
            conn,
            key,
            reference=order.order_number,
            currency=order.currency,
            amount_minor=order.amount_minor,
            renewal_no=n,
            expires_in=run.settings.expires_in_seconds,
            fp_version=order.version,
            now=now,
            run_id=run.run_id,
        )
        if intent is None or intent.state != store.PENDING:
            return "raced"  # another runner wrote (and maybe sent) this order's intent
    if old is not None:
        log.info(
            "order %s: intent %s supersedes %s (%s)",
            order.order_id,
            intent.intent_id,
            old.intent_id,
            reason,
        )
        run.result.counts[f"superseded_{reason}"] += 1
    run.checkpoint("intent_written", intent.intent_id)
    return send(run, intent, order)


def send(run: Runner, intent: store.Intent, order: Order, *, resend: bool = False) -> str:
    """Claim the intent (``creating`` committed), then POST: a claim lost to another runner
    sends nothing."""
    with bind(order_number=order.order_number):
        return _send_bound(run, intent, order, resend=resend)


def _send_bound(run: Runner, intent: store.Intent, order: Order, *, resend: bool) -> str:
    assert run.cko is not None
    key = IntentKey(intent.order_id, intent.order_version)
    now = run.clock()
    try:
        assert (intent.currency, intent.amount_minor) == (order.currency, order.amount_minor)
        body = link_body(order, key, run.settings)
    except LinkDataError as exc:
        with run.engine.begin() as conn:
            store.record_failed(conn, intent.intent_id, describe(exc), now=now, fp_version=order.version)
        run.result.refused.append(f"order {order.order_id} ({intent.intent_id}): {exc.code}")
        return "refused"
    with run.engine.begin() as conn:
        if not store.claim_for_post(conn, intent, now=now, fp_version=order.version, run_id=run.run_id):
            return "raced"
    # From here until record_created commits, a crash leaves the intent in doubt.
    run.checkpoint("before_post", intent.intent_id)
    try:
        answer = post_payment_link(run.cko, body, key.idempotency_key)
    except cko_errors.CheckoutError as exc:
        return _post_failed(run, intent, order, exc)
    run.checkpoint("after_post", intent.intent_id)
    return _record_answer(run, intent, order, answer, resend=resend)


def _answer_fields(answer: object) -> tuple[object, str | None, datetime | None]:
    """The link id, URL and expiry of a 201, read leniently: the link exists at Checkout.com by
    now, so an odd URL or expiry (no offset, not a string) must not cost us its id; they stay
    unknown instead (the id alone lets recovery and the status push find the link)."""
    if not isinstance(answer, Mapping):
        return None, None, None
    links = answer.get("_links")
    redirect = links.get("redirect") if isinstance(links, Mapping) else None
    href = redirect.get("href") if isinstance(redirect, Mapping) else None
    return answer.get("id"), href if isinstance(href, str) else None, expiry_of(answer)


def expiry_of(link: Mapping[str, Any]) -> datetime | None:
    """A link's ``expires_on``: UTC when written without an offset (as Checkout.com writes other
    times); unknown (None, logged) when unreadable. A link of unknown expiry is never renewed as
    expired: it stays until paid, or until a person replaces it (docs/payment-requests.md)."""
    raw = link.get("expires_on")
    try:
        return parse_api_ts(raw) if isinstance(raw, str) and raw else None
    except TimestampError:
        log.warning("payment link %s: unreadable expires_on %s", safe(link.get("id")), safe(raw))
        return None


def _record_answer(run: Runner, intent: store.Intent, order: Order, answer: object, *, resend: bool) -> str:
    """Commit the 201's link id at once: until then, a crash leaves the intent in doubt."""
    link_id, href, expires_on = _answer_fields(answer)
    if not isinstance(link_id, str) or not link_id:
        with run.engine.begin() as conn:
            store.record_in_doubt(conn, intent.intent_id, "201 without a link id", now=run.clock())
        run.result.deferred.append(f"order {order.order_id} ({intent.intent_id}): 201 without a link id")
        return "in_doubt"
    with run.engine.begin() as conn:
        store.record_created(
            conn,
            intent.intent_id,
            link_id=link_id,
            link_url=href,
            expires_on=expires_on,
            writeback_status=run.link_status_fp,
            now=run.clock(),
        )
    run.checkpoint("after_record", intent.intent_id)
    log.info(
        "order %s: link %s created for intent %s%s",
        order.order_id,
        link_id,
        intent.intent_id,
        " (resent)" if resend else "",
    )
    return "created"


def _post_failed(run: Runner, intent: store.Intent, order: Order, exc: cko_errors.CheckoutError) -> str:
    """Refused (4xx): failed until the order changes. Not sent, or an error every order would hit:
    released (the latter raised). Anything else: the link may exist, so in doubt, never resent blindly."""
    now = run.clock()
    what = describe(exc)
    line = f"order {order.order_id} ({intent.intent_id}): {what}"
    disposition = classify(exc)
    refused = disposition is Disposition.REFUSED
    not_sent = disposition is Disposition.NOT_SENT
    fatal = disposition is Disposition.FATAL
    with run.engine.begin() as conn:
        if refused:
            store.record_failed(conn, intent.intent_id, what, now=now, fp_version=order.version)
        elif not_sent or fatal:
            store.release(conn, intent.intent_id, what, now=now)
        else:  # 5xx, read timeout, 409, unexpected: the link may exist
            store.record_in_doubt(conn, intent.intent_id, "in_doubt: " + what, now=now)
    if fatal:
        raise exc
    if refused:
        run.result.refused.append(line)
        return "refused"
    run.result.deferred.append(line)
    if not_sent:
        return "deferred"
    log.warning("intent %s is in doubt after %s", intent.intent_id, what)
    return "in_doubt"
