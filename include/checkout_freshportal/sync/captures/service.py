"""The capture sync's steps, as the ``freshportal_captures`` DAG and tests run them.

``pull`` (the release feed into one capture intent per release), ``execute`` (in-doubt intents
resolved, then pending ones validated and sent), ``resolve`` (outcomes from webhooks, late ones
from the actions) and ``write_back`` (notes on the orders). Each step commits per item and may
be rerun at any point: a second concurrent run finds every claim taken and sends nothing.
docs/captures.md has the walk-through; the failure rules are in :mod:`..intents.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.captures import pull, reasons, send, writeback
from checkout_freshportal.sync.captures.payments import CheckoutCaptures
from checkout_freshportal.sync.captures.runner import CaptureRun
from checkout_freshportal.sync.captures.settings import CaptureSettings
from checkout_freshportal.sync.intents.errors import OutboundDeferred, OutboundRefused
from checkout_freshportal.sync.intents.execute import Checkpoint, Context
from checkout_freshportal.sync.intents.resolve import resolve_outcomes
from checkout_freshportal.timeutil import utcnow

log = logging.getLogger(__name__)

STEPS = ("pull", "execute", "resolve", "write_back")


class CapturesDeferred(OutboundDeferred):
    """Some captures wait on a transient failure; a retry or the next run resumes them."""


class CapturesRefused(OutboundRefused):
    """Checkout.com or FreshPortal refused something our checks let through: look at it."""


def run_step(
    step: str,
    *,
    fp: Any,
    cko: CheckoutCaptures | None,
    engine: Engine,
    settings: CaptureSettings | None = None,
    run_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    checkpoint: Checkpoint | None = None,
    raise_on_failures: bool = True,
) -> dict[str, Any]:
    """Run one step; returns its counts, failures and the intents' summary (the task's XCom)."""
    if step not in STEPS:
        raise ValueError(f"unknown capture step {step!r}; known: {', '.join(STEPS)}")
    # Refusals that are the answer our validation would have given a moment later (the
    # authorisation lapsed, or a concurrent capture used the balance): answered with our own
    # code, not reported as a fault.
    ctx = Context(
        engine=engine,
        clock=clock,
        run_id=run_id,
        answered_refusals={
            "payment_expired": reasons.AUTHORIZATION_EXPIRED,
            "capture_value_greater_than_authorized": reasons.AMOUNT_EXCEEDS_CAPTURABLE,
            "capture_value_greater_than_remaining_authorized": reasons.AMOUNT_EXCEEDS_CAPTURABLE,
        },
    )
    if checkpoint is not None:
        ctx.checkpoint = checkpoint
    run = CaptureRun(fp=fp, cko=cko, settings=settings or CaptureSettings(), ctx=ctx)  # type: ignore[arg-type]
    if step == "pull":
        ctx.counts.update(
            pull.pull_releases(fp, engine, page_size=run.settings.page_size, now=clock(), run_id=run_id)
        )
    elif step == "execute":
        send.recover_in_doubt(run)
        send.send_pending(run)
    elif step == "resolve":
        resolve_outcomes(
            ctx,
            run.cko,
            kinds=send.KINDS,
            limit=run.settings.max_captures_per_run,
            outcome_timeout=run.settings.outcome_timeout,
            overdue_after=run.settings.outcome_overdue,
        )
    else:
        writeback.write_back(run)
    return ctx.finish(
        "captures",
        step,
        kinds=send.KINDS,
        refused=CapturesRefused,
        deferred=CapturesDeferred,
        raise_on_failures=raise_on_failures,
    )


def run_all(
    *,
    fp: Any,
    cko: CheckoutCaptures,
    engine: Engine,
    settings: CaptureSettings | None = None,
    run_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    checkpoint: Checkpoint | None = None,
) -> list[dict[str, Any]]:
    """Every step in order, none raising until all ran (for the demo and tests)."""
    return [
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
