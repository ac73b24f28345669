"""The refund sync's steps, as the ``freshportal_refunds`` DAG and ``cfp`` run them.

``pull`` (the FreshPortal feed into requests and intents), ``execute`` (in-doubt intents
resolved, then pending ones validated and sent), ``resolve`` (outcomes from webhooks, late ones
from the actions) and ``write_back`` (answers onto FreshPortal). Each step commits per item and
may be rerun at any point: a second concurrent run finds every claim taken and sends nothing.
docs/refunds.md has the walk-through; the failure rules are in :mod:`..intents.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.intents.errors import OutboundDeferred, OutboundRefused
from checkout_freshportal.sync.intents.execute import Checkpoint, Context
from checkout_freshportal.sync.intents.resolve import resolve_outcomes
from checkout_freshportal.sync.refunds import pull, reasons, send, writeback
from checkout_freshportal.sync.refunds.payments import CheckoutMoney
from checkout_freshportal.sync.refunds.runner import RefundRun
from checkout_freshportal.sync.refunds.settings import RefundSettings
from checkout_freshportal.timeutil import utcnow

log = logging.getLogger(__name__)

STEPS = ("pull", "execute", "resolve", "write_back")


class RefundsDeferred(OutboundDeferred):
    """Some refund requests wait on a transient failure; a retry or the next run resumes them."""


class RefundsRefused(OutboundRefused):
    """Checkout.com or FreshPortal refused something our checks let through: look at it."""


def run_step(
    step: str,
    *,
    fp: Any,
    cko: CheckoutMoney | None,
    engine: Engine,
    settings: RefundSettings | None = None,
    run_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    checkpoint: Checkpoint | None = None,
    raise_on_failures: bool = True,
) -> dict[str, Any]:
    """Run one step; returns its counts, failures and the intents' summary (the task's XCom)."""
    if step not in STEPS:
        raise ValueError(f"unknown refund step {step!r}; known: {', '.join(STEPS)}")
    # Two partial refunds validated at once against one balance: the second may meet
    # Checkout.com's 422 amount_exceeds_balance. That is the answer our validation would have
    # given a moment later, so it is answered the same way, not reported as a fault.
    ctx = Context(
        engine=engine,
        clock=clock,
        run_id=run_id,
        answered_refusals={"amount_exceeds_balance": reasons.AMOUNT_EXCEEDS_REFUNDABLE},
    )
    if checkpoint is not None:
        ctx.checkpoint = checkpoint
    run = RefundRun(fp=fp, cko=cko, settings=settings or RefundSettings(), ctx=ctx)  # type: ignore[arg-type]
    if step == "pull":
        ctx.counts.update(
            pull.pull_requests(fp, engine, page_size=run.settings.page_size, now=clock(), run_id=run_id)
        )
    elif step == "execute":
        send.recover_in_doubt(run)
        send.send_pending(run)
    elif step == "resolve":
        resolve_outcomes(
            ctx,
            run.cko,
            kinds=send.KINDS,
            limit=run.settings.max_requests_per_run,
            outcome_timeout=run.settings.outcome_timeout,
            overdue_after=run.settings.outcome_overdue,
        )
    else:
        writeback.write_back(run)
    return ctx.finish(
        "refunds",
        step,
        kinds=send.KINDS,
        refused=RefundsRefused,
        deferred=RefundsDeferred,
        raise_on_failures=raise_on_failures,
    )


def run_all(
    *,
    fp: Any,
    cko: CheckoutMoney,
    engine: Engine,
    settings: RefundSettings | None = None,
    run_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    checkpoint: Checkpoint | None = None,
) -> list[dict[str, Any]]:
    """Every step in order, none raising until all ran (for the CLI, the demo and tests)."""
    results = [
        run_step(
            step,
            fp=fp,
            cko=cko,
            engine=engine,
            settings=settings,
            run_id=run_id,
            clock=clock,
            checkpoint=checkpoint,
            raise_on_failures=False,
        )
        for step in STEPS
    ]
    return results
