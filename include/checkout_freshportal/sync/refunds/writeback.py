"""Step 4: each refund request's answer onto FreshPortal: processing, then refunded or failed.

``PUT .../outcome`` replaces the outcome and is idempotent, so a write whose answer was lost
is simply written again. A refusal (the request was withdrawn meanwhile: 409; unknown: 404;
invalid: 422) is reported loudly and not retried -- the money side stands either way.
"""

from __future__ import annotations

import logging

from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.freshportal.models import RefundOutcome
from checkout_freshportal.logsafe import safe
from checkout_freshportal.observability import bind
from checkout_freshportal.sync.intents import execute, store
from checkout_freshportal.sync.intents.store import MoneyIntent
from checkout_freshportal.sync.refunds.runner import RefundRun
from checkout_freshportal.sync.refunds.send import KINDS

log = logging.getLogger(__name__)

MAX_FAILURE_REASON = 400


def outcome_of(intent: MoneyIntent) -> RefundOutcome:
    status = intent.writeback_status
    assert status is not None
    failure = None
    if status == store.WB_FAILED:
        if intent.state == store.DECLINED:
            code = " ".join(x for x in (intent.response_code, intent.response_summary) if x) or "no code"
            failure = f"declined: Checkout.com declined the refund ({code})"
        else:
            failure = f"{intent.reason_code}: {intent.reason_text}"
    moved = intent.outcome_amount_minor if status == store.WB_SUCCEEDED else None
    return RefundOutcome(
        status=status,
        refunded_amount_minor=moved,
        currency=intent.currency if moved is not None else None,
        payment_id=intent.payment_id,
        refund_id=intent.action_id,
        processed_at=intent.outcome_at if status == store.WB_SUCCEEDED else None,
        failure_reason=failure[:MAX_FAILURE_REASON] if failure else None,
    )


def write_back(run: RefundRun) -> None:
    with run.ctx.engine.connect() as conn:
        due = store.writeback_due(conn, kinds=KINDS, limit=run.settings.max_writebacks_per_run)
    for intent in due:
        with bind(**store.log_ids(intent)):
            run.ctx.count(_write_one(run, intent))


def _write_one(run: RefundRun, intent: MoneyIntent) -> str:
    refund_request_id = intent.request_key.split(":", 1)[1]
    outcome = outcome_of(intent)
    run.ctx.checkpoint("before_writeback", intent.intent_id)
    try:
        run.fp.write_refund_outcome(refund_request_id, outcome)
    except (fp_errors.AuthenticationError, fp_errors.ForbiddenError):
        raise
    except (fp_errors.ConflictError, fp_errors.NotFoundError, fp_errors.ValidationError) as exc:
        with run.ctx.engine.begin() as conn:
            store.give_up_writeback(
                conn, intent.intent_id, execute.describe(exc), now=run.ctx.clock(), status=outcome.status
            )
        what = execute.describe(exc)
        run.ctx.refused.append(f"refund request {safe(refund_request_id)}: answer refused: {what}")
        return "writeback_refused"
    except fp_errors.FreshPortalError as exc:
        with run.ctx.engine.begin() as conn:
            store.count_writeback_attempt(conn, intent.intent_id, execute.describe(exc), now=run.ctx.clock())
        run.ctx.deferred.append(f"refund request {safe(refund_request_id)}: {execute.describe(exc)}")
        return "writeback_deferred"
    with run.ctx.engine.begin() as conn:
        store.record_written_back(conn, intent.intent_id, outcome.status, now=run.ctx.clock())
    return f"written_back_{outcome.status}"
