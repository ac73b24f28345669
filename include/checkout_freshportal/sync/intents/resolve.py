"""Accepted money movements get their outcome: from the webhook or, late, the payment's actions.

For cards a refund, void or capture is asynchronous (the 202 only says "accepted"). The webhook
is free (the sidecar stored it; :func:`.outcomes.from_events`); the payment's actions cost one
read and are asked only when no event came within ``outcome_timeout`` after Checkout.com
accepted the request. A decline goes to the central declines log (``ops_payment_declines``)
under its action id -- the key the events path uses too, so the two never double a row.
Refunds and captures run this same step (docs/refunds.md, docs/captures.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.logsafe import safe
from checkout_freshportal.observability import bind
from checkout_freshportal.sync.events.store import log_declines
from checkout_freshportal.sync.intents import outcomes, store
from checkout_freshportal.sync.intents.execute import Context, describe
from checkout_freshportal.sync.intents.outcomes import Outcome
from checkout_freshportal.sync.intents.store import MoneyIntent

log = logging.getLogger(__name__)


class ActionsReader(Protocol):
    def get_payment_actions(self, payment_id: str) -> list[Any]: ...


def resolve_outcomes(
    ctx: Context,
    cko: ActionsReader,
    *,
    kinds: Sequence[str],
    limit: int,
    outcome_timeout: timedelta,
    overdue_after: timedelta = timedelta(hours=24),
) -> None:
    """Each accepted request's outcome, from its webhook or (``outcome_timeout`` after it was
    accepted) the payment's actions. One with none ``overdue_after`` its acceptance is listed as
    deferred, which fails the run: a person must look (docs/runbook-money.md)."""
    with ctx.engine.connect() as conn:
        accepted = store.in_states(conn, [store.ACCEPTED], kinds=kinds, limit=limit)
        found = outcomes.from_events(conn, accepted)
    late = ctx.clock() - outcome_timeout
    for intent in accepted:
        with bind(**store.log_ids(intent)):
            outcome = found.get(intent.intent_id)
            if outcome is None and intent.accepted_at is not None and intent.accepted_at <= late:
                outcome = _from_actions(ctx, cko, intent)
            if outcome is None:
                ctx.count("awaiting_outcome")
                if intent.accepted_at is not None and intent.accepted_at <= ctx.clock() - overdue_after:
                    ctx.deferred.append(
                        f"{intent.kind} {intent.request_key}: accepted {intent.accepted_at.isoformat()}, "
                        f"no outcome yet (action {safe(intent.action_id)})"
                    )
                continue
            record(ctx, intent, outcome)


def _from_actions(ctx: Context, cko: ActionsReader, intent: MoneyIntent) -> Outcome | None:
    assert intent.payment_id is not None
    try:
        actions = cko.get_payment_actions(intent.payment_id)
    except cko_errors.CheckoutError as exc:
        ctx.deferred.append(f"{intent.request_key}: outcome unreadable: {describe(exc)}")
        return None
    outcome = outcomes.from_actions(actions, intent)
    if outcome is None:
        ctx.count("outcome_not_in_actions_yet")
    return outcome


def record(ctx: Context, intent: MoneyIntent, outcome: Outcome) -> None:
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        done = store.record_outcome(
            conn,
            intent.intent_id,
            succeeded=outcome.succeeded,
            amount_minor=outcome.amount_minor if outcome.amount_minor is not None else intent.amount_minor,
            processed_at=outcome.processed_at,
            source=outcome.source,
            response_code=outcome.response_code,
            response_summary=outcome.response_summary,
            now=now,
            action_id=outcome.action_id,
        )
        if done and outcome.action_id:  # only the run that recorded it says so
            log.warning(
                "%s %s: the 202 named action %s, Checkout.com lists it as %s (found by our reference)",
                intent.kind, intent.intent_id, safe(intent.action_id), safe(outcome.action_id),
            )  # fmt: skip
            intent = replace(intent, action_id=outcome.action_id)
        decline = outcome.decline_record(intent)
        if done and decline is not None:
            log_declines(conn, [decline], now)
    if done:
        what = "succeeded" if outcome.succeeded else "declined"
        ctx.count(f"{intent.kind}_{what}")
        log.info("%s %s %s (from %s)", intent.kind, intent.intent_id, what, outcome.source)
