"""Step 3: accepted captures get their outcome, from the webhook or, late, the actions.

The same reading as refunds (:mod:`..intents.outcomes`): ``payment_captured`` /
``payment_capture_declined`` with our action id, stored by the sidecar, cost nothing; the
payment's actions cost one read and are asked only when no event came within
``outcome_timeout``. A decline goes to the central declines log under its action id, the key
the events path uses too, so the two never double a row.
"""

from __future__ import annotations

import logging

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.sync.captures.runner import CaptureRun
from checkout_freshportal.sync.captures.send import KINDS
from checkout_freshportal.sync.events.store import log_declines
from checkout_freshportal.sync.intents import execute, outcomes, store
from checkout_freshportal.sync.intents.outcomes import Outcome
from checkout_freshportal.sync.intents.store import MoneyIntent

log = logging.getLogger(__name__)


def resolve_outcomes(run: CaptureRun) -> None:
    with run.ctx.engine.connect() as conn:
        accepted = store.in_states(
            conn, [store.ACCEPTED], kinds=KINDS, limit=run.settings.max_captures_per_run
        )
        found = outcomes.from_events(conn, accepted)
    late = run.ctx.clock() - run.settings.outcome_timeout
    for intent in accepted:
        outcome = found.get(intent.intent_id)
        if outcome is None and intent.accepted_at is not None and intent.accepted_at <= late:
            outcome = _from_actions(run, intent)
        if outcome is None:
            run.ctx.count("awaiting_outcome")
            continue
        record(run, intent, outcome)


def _from_actions(run: CaptureRun, intent: MoneyIntent) -> Outcome | None:
    assert intent.payment_id is not None
    try:
        actions = run.cko.get_payment_actions(intent.payment_id)
    except cko_errors.CheckoutError as exc:
        run.ctx.deferred.append(f"{intent.request_key}: outcome unreadable: {execute.describe(exc)}")
        return None
    outcome = outcomes.from_actions(actions, intent)
    if outcome is None:
        run.ctx.count("outcome_not_in_actions_yet")
    return outcome


def record(run: CaptureRun, intent: MoneyIntent, outcome: Outcome) -> None:
    now = run.ctx.clock()
    with run.ctx.engine.begin() as conn:
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
        )
        decline = outcome.decline_record(intent)
        if done and decline is not None:
            log_declines(conn, [decline], now)
    if done:
        what = "succeeded" if outcome.succeeded else "declined"
        run.ctx.count(f"capture_{what}")
        log.info("capture %s %s (from %s)", intent.intent_id, what, outcome.source)
