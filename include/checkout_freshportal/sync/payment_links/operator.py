"""Operator actions on an in-doubt intent (runbook in docs/payment-requests.md).

A POST whose answer was lost cannot be resolved by the code alone (no list endpoint for links),
so a person who looked in the Checkout.com Dashboard either adopts the link found there or
releases the intent to be sent again.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from checkout_freshportal.freshportal.mapping import FreshPortalMapping, load_mapping
from checkout_freshportal.sync.payment_links import store
from checkout_freshportal.sync.payment_links.runner import CheckoutLinks
from checkout_freshportal.sync.payment_links.send import expiry_of
from checkout_freshportal.timeutil import utcnow

log = logging.getLogger(__name__)


def adopt_link(
    cko: CheckoutLinks,
    engine: Engine,
    intent_id: str,
    link_id: str,
    *,
    mapping: FreshPortalMapping | None = None,
) -> store.Intent:
    """Resolve an in-doubt intent with the link an operator found (Checkout.com Dashboard, by reference).

    The link must carry this intent's ``metadata.intent_id`` and price, so a wrong id cannot be
    adopted. The intent becomes ``created`` and the next write-back step advertises the link.
    """
    with engine.connect() as conn:
        intent = store.get_intent(conn, intent_id)
    if intent is None or intent.state != store.CREATING:
        raise ValueError(
            f"intent {intent_id} is not in doubt (state {intent.state if intent else 'missing'})"
        )
    link = cko.get_payment_link(link_id)
    meta = link.get("metadata") or {}
    if meta.get("intent_id") != intent_id or (link.get("currency"), link.get("amount")) != (
        intent.currency,
        intent.amount_minor,
    ):
        raise ValueError(f"link {link_id} does not belong to intent {intent_id}")
    href = ((link.get("_links") or {}).get("redirect") or {}).get("href")
    mapping = mapping or load_mapping()
    now = utcnow()
    with engine.begin() as conn:
        existing = store.get_intent(conn, intent_id)
        assert existing is not None
        store.record_created(
            conn,
            intent_id,
            link_id=link_id,
            link_url=href,
            expires_on=expiry_of(link),
            writeback_status=existing.writeback_status or mapping.payment_status_for("Pending"),
            now=now,
        )
        store.record_link_status(
            conn, intent_id, status=str(link.get("status")), payment_id=link.get("payment_id"), now=now
        )
        adopted = store.get_intent(conn, intent_id)
    assert adopted is not None
    log.info("intent %s: adopted link %s", intent_id, link_id)
    return adopted


def release_in_doubt(engine: Engine, intent_id: str) -> store.Intent:
    """An operator confirmed that no link exists for an in-doubt intent: send it again next run."""
    with engine.begin() as conn:
        if not store.release(conn, intent_id, "released by operator: no link found", now=utcnow()):
            raise ValueError(f"intent {intent_id} is not in doubt")
        intent = store.get_intent(conn, intent_id)
    assert intent is not None
    log.info("intent %s released by operator", intent_id)
    return intent
