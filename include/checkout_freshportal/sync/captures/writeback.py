"""Step 4: each release's outcome onto its FreshPortal order as a note.

FreshPortal has no capture field to answer on, so the answer is a note: for what cannot be
captured (always; ``payment_exception``, the reason code first) and for a capture made
(``note_on_success``; ``payment_info``). Notes are not idempotent in FreshPortal, so each is
created through :meth:`FreshPortalClient.create_note` with the stable external ref
``cfp-capture:<release id>:<status>``: it looks before it posts and after every failed post,
so a write whose answer was lost, a rerun or a crash never makes a second note. Two runs at the
same moment would both look before either posts, so a note is first *claimed* on the intent row
and only the claimant writes it. The claim is a compare-and-set on ``writeback_attempts`` (of
two runs holding one snapshot, one wins) that also stamps ``writeback_claimed_at``: a run whose
snapshot was read after the claim sees the new count, so the count alone would let it claim
again; the stamp keeps it out until the note is recorded, deferred or refused (each clears it),
or until ``writeback_claim_lease`` has passed (a run killed outright, or stopped while its POST
may be in flight). A run that fails before posting gives the claim back on the way out.
``processing`` (accepted, outcome to come) and the silent codes (auto-capture channel) write
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.money import format_major
from checkout_freshportal.sync.captures import reasons
from checkout_freshportal.sync.captures.pull import release_id_of
from checkout_freshportal.sync.captures.runner import CaptureRun
from checkout_freshportal.sync.captures.send import KINDS
from checkout_freshportal.sync.intents import execute, store
from checkout_freshportal.sync.intents.guarded import guarded_update
from checkout_freshportal.sync.intents.store import MoneyIntent
from checkout_freshportal.warehouse import schema

log = logging.getLogger(__name__)

MAX_NOTE = 1000
CATEGORY_FAILED = "payment_exception"
CATEGORY_SUCCEEDED = "payment_info"


def external_ref(intent: MoneyIntent, status: str) -> str:
    return f"cfp-capture:{release_id_of(intent)}:{status}"


def note_of(intent: MoneyIntent, *, note_on_success: bool) -> tuple[str, str] | None:
    """(text, category) of the note this intent's answer needs, or None for no note."""
    status = intent.writeback_status
    release = release_id_of(intent)
    amount = format_major(intent.amount_minor, intent.currency)
    if status == store.WB_SUCCEEDED:
        if not note_on_success:
            return None
        moved = format_major(intent.outcome_amount_minor or intent.amount_minor, intent.currency)
        kind = "final" if intent.final else "partial"
        return (
            f"Captured {moved} ({kind} capture) for fulfilment release {release} on Checkout.com payment "
            f"{intent.payment_id} (action {intent.action_id}).",
            CATEGORY_SUCCEEDED,
        )
    if status != store.WB_FAILED or intent.reason_code in reasons.SILENT:
        return None
    if intent.state == store.DECLINED:
        code = " ".join(x for x in (intent.response_code, intent.response_summary) if x) or "no code"
        why = f"{reasons.DECLINED}: Checkout.com declined the capture ({code})"
    else:
        why = f"{intent.reason_code}: {intent.reason_text}"
    text = f"Not captured: fulfilment release {release} ({amount}). {why}"
    return text[:MAX_NOTE], CATEGORY_FAILED


def claim_writeback(conn: Connection, intent: MoneyIntent, *, now: datetime, lease: timedelta) -> bool:
    """This runner writes the answer the snapshot saw; a concurrent runner's claim fails, and so
    does a later runner's while the claim is younger than ``lease``."""
    t = schema.sync_money_intents
    return guarded_update(
        conn,
        t,
        t.c.intent_id == intent.intent_id,
        [
            t.c.writeback_attempts == intent.writeback_attempts,
            t.c.writeback_status == intent.writeback_status,
            sa.or_(t.c.written_back_status.is_(None), t.c.written_back_status != intent.writeback_status),
            sa.or_(t.c.writeback_claimed_at.is_(None), t.c.writeback_claimed_at <= now - lease),
        ],
        writeback_attempts=intent.writeback_attempts + 1,
        writeback_claimed_at=now,
        updated_at=now,
    )


def release_claim(conn: Connection, intent: MoneyIntent, *, claimed_at: datetime) -> bool:
    """Give back a claim this runner still holds (it failed before its bookkeeping, or a newer
    status became due meanwhile), so the next run writes at once instead of after the lease.
    Guarded by the claim's stamp: a claim that lapsed and was taken by another run (stamped at
    least a lease later) is not ours to release."""
    t = schema.sync_money_intents
    return guarded_update(
        conn,
        t,
        t.c.intent_id == intent.intent_id,
        [t.c.writeback_claimed_at == claimed_at],
        writeback_claimed_at=None,
    )


def write_back(run: CaptureRun) -> None:
    with run.ctx.engine.connect() as conn:
        due = store.writeback_due(conn, kinds=KINDS, limit=run.settings.max_writebacks_per_run)
    for intent in due:
        run.ctx.count(_write_one(run, intent))


@dataclass
class _Claim:
    """This runner's claim on one note: its stamp, and whether it must be left to lapse."""

    at: datetime
    keep: bool = False  # stopped while the POST may be in flight: never given back


def _write_one(run: CaptureRun, intent: MoneyIntent) -> str:
    note = note_of(intent, note_on_success=run.settings.note_on_success)
    if note is None:
        return _record(run, intent, note, None)
    claim = _Claim(run.ctx.clock())
    with run.ctx.engine.begin() as conn:
        if not claim_writeback(conn, intent, now=claim.at, lease=run.settings.writeback_claim_lease):
            return "raced"
    try:
        return _record(run, intent, note, claim)
    finally:  # a no-op once the bookkeeping cleared it; else (a failure, a newer status) ours
        if not claim.keep:
            _give_back(run, intent, claim.at)


def _give_back(run: CaptureRun, intent: MoneyIntent, claimed_at: datetime) -> None:
    """Release the claim, never hiding the error that brought us here: a release that fails
    (the warehouse is gone too) is logged and the claim lapses after the lease."""
    try:
        with run.ctx.engine.begin() as conn:
            release_claim(conn, intent, claimed_at=claimed_at)
    except Exception as exc:
        log.warning(
            "capture %s: could not give back the note's claim (%s); it lapses after writeback_claim_lease",
            intent.intent_id,
            execute.describe(exc),
        )


def _record(run: CaptureRun, intent: MoneyIntent, note: tuple[str, str] | None, claim: _Claim | None) -> str:
    """Write the note (if any), then record the answer as written (or why it was not), giving
    back the claim in the same update.

    A FreshPortal error gives the claim back: the next run starts minutes later and looks for
    the note before it posts. Anything else raised while the note is being posted (the task's
    timeout, a signal) may have left a POST in flight, so the claim is kept until it lapses."""
    status = intent.writeback_status
    assert status is not None
    claimed_at = claim.at if claim is not None else None
    run.ctx.checkpoint("before_writeback", intent.intent_id)
    if note is not None:
        text, category = note
        try:
            run.fp.create_note(intent.order_id, text, external_ref(intent, status), category=category)
        except (fp_errors.AuthenticationError, fp_errors.ForbiddenError):
            raise
        except (fp_errors.NotFoundError, fp_errors.ValidationError, fp_errors.ConflictError) as exc:
            with run.ctx.engine.begin() as conn:
                store.give_up_writeback(
                    conn,
                    intent.intent_id,
                    execute.describe(exc),
                    now=run.ctx.clock(),
                    status=status,
                    claimed_at=claimed_at,
                )
            run.ctx.refused.append(f"{intent.request_key}: note refused: {execute.describe(exc)}")
            return "writeback_refused"
        except fp_errors.FreshPortalError as exc:
            with run.ctx.engine.begin() as conn:
                store.count_writeback_attempt(
                    conn, intent.intent_id, execute.describe(exc), now=run.ctx.clock(), claimed_at=claimed_at
                )
            run.ctx.deferred.append(f"{intent.request_key}: {execute.describe(exc)}")
            return "writeback_deferred"
        except BaseException:
            if claim is not None:
                claim.keep = True
            raise
    with run.ctx.engine.begin() as conn:
        store.record_written_back(conn, intent.intent_id, status, now=run.ctx.clock(), claimed_at=claimed_at)
    return f"noted_{status}" if note is not None else f"recorded_{status}"
