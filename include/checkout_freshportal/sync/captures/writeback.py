"""Step 4: each release's outcome onto its FreshPortal order as a note.

FreshPortal has no capture field to answer on, so the answer is a note: for what cannot be
captured (always; ``payment_exception``, the reason code first) and for a capture made
(``note_on_success``; ``payment_info``). Notes are not idempotent in FreshPortal, so each is
created through :meth:`FreshPortalClient.create_note` with the stable external ref
``cfp-capture:<release id>:<status>``: it looks before it posts and after every failed post,
so a write whose answer was lost, a rerun or a crash never makes a second note; two runs at the
same moment would both look before either posts, so a note is first claimed on the intent row
(compare-and-set on ``writeback_attempts``) and only the winner writes it. ``processing``
(accepted, outcome to come) and the silent codes (auto-capture channel) write nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

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


def claim_writeback(conn: Connection, intent: MoneyIntent, *, now: datetime) -> bool:
    """This runner writes the answer the snapshot saw; a concurrent runner's claim fails."""
    t = schema.sync_money_intents
    return guarded_update(
        conn,
        t,
        t.c.intent_id == intent.intent_id,
        [
            t.c.writeback_attempts == intent.writeback_attempts,
            t.c.writeback_status == intent.writeback_status,
            sa.or_(t.c.written_back_status.is_(None), t.c.written_back_status != intent.writeback_status),
        ],
        writeback_attempts=intent.writeback_attempts + 1,
        updated_at=now,
    )


def write_back(run: CaptureRun) -> None:
    with run.ctx.engine.connect() as conn:
        due = store.writeback_due(conn, kinds=KINDS, limit=run.settings.max_writebacks_per_run)
    for intent in due:
        run.ctx.count(_write_one(run, intent))


def _write_one(run: CaptureRun, intent: MoneyIntent) -> str:
    status = intent.writeback_status
    assert status is not None
    note = note_of(intent, note_on_success=run.settings.note_on_success)
    if note is not None:
        with run.ctx.engine.begin() as conn:
            if not claim_writeback(conn, intent, now=run.ctx.clock()):
                return "raced"
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
                    conn, intent.intent_id, execute.describe(exc), now=run.ctx.clock(), status=status
                )
            run.ctx.refused.append(f"{intent.request_key}: note refused: {execute.describe(exc)}")
            return "writeback_refused"
        except fp_errors.FreshPortalError as exc:
            with run.ctx.engine.begin() as conn:
                store.count_writeback_attempt(
                    conn, intent.intent_id, execute.describe(exc), now=run.ctx.clock()
                )
            run.ctx.deferred.append(f"{intent.request_key}: {execute.describe(exc)}")
            return "writeback_deferred"
    with run.ctx.engine.begin() as conn:
        store.record_written_back(conn, intent.intent_id, status, now=run.ctx.clock())
    return f"noted_{status}" if note is not None else f"recorded_{status}"
