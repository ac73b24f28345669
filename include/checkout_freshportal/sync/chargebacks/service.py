"""Evidence-deadline notes: an open dispute due soon raises a note on its order and a log line.

Third task of ``checkout_events`` (after ``apply_events``, so webhooks of this run count). A
dispute waiting for evidence (``evidence_required``) whose ``evidence_required_by`` falls within
``evidence_deadline_warning_days`` gets one note on its FreshPortal order and a WARNING line in
the task log. FreshPortal notes are not idempotent: the note goes through
:meth:`FreshPortalClient.create_note` with the stable external ref
``cfp-chargeback-deadline:<dispute id>:<deadline>``, which lists the order's notes first (and
again after a failed post), so reruns, crashes and a later run add nothing (runs of
``checkout_events`` never overlap: ``max_active_runs=1``; two writers at the same moment could
both look before either posts). A deadline moved by
Checkout.com is a new deadline: it gets its own note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.logsafe import safe
from checkout_freshportal.money import format_major
from checkout_freshportal.sync.chargebacks import store
from checkout_freshportal.sync.chargebacks.settings import ChargebackSettings
from checkout_freshportal.sync.intents.errors import OutboundDeferred
from checkout_freshportal.timeutil import format_ts, utcnow

log = logging.getLogger(__name__)

CATEGORY = "payment_exception"
#: How many refusals a result lists (the counts are always complete).
LIST_LIMIT = 20


class NoteWriter(Protocol):
    """The part of ``FreshPortalClient`` the notes need."""

    def find_note(self, order_id: str, external_ref: str) -> Any: ...

    def create_note(
        self, order_id: str, text: str, external_ref: str, *, category: str | None = None
    ) -> Any: ...


@dataclass
class NotesResult:
    due: int = 0  # open disputes with evidence due within the warning window
    created: int = 0  # notes posted by this run
    already_noted: int = 0  # the order had the note already (an earlier run)
    failed: int = 0  # FreshPortal refused or was down; the next run tries again
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def raise_for_failures(self) -> None:
        """Loud after every note had its chance: a missed evidence deadline loses the dispute,
        so a note that could not be written fails the task (retried; the next run tries too)."""
        if self.failed:
            raise DeadlineNotesFailed(
                f"{self.failed} evidence-deadline note(s) could not be written to FreshPortal",
                self.failures,
            )


class DeadlineNotesFailed(OutboundDeferred):
    """Some evidence-deadline notes were not written; a retry or the next run tries again."""


def external_ref(dispute_id: str, deadline: datetime) -> str:
    """Stable per dispute and deadline: the dedup key FreshPortal's notes lack."""
    return f"cfp-chargeback-deadline:{dispute_id}:{format_ts(deadline)}"


def note_text(d: Mapping[str, Any]) -> str:
    """What customer service reads: which dispute, how much, why, by when. No cardholder data."""
    why = ", ".join(
        x for x in (d["category"], f"reason code {d['reason_code']}" if d["reason_code"] else None) if x
    )
    return (
        f"Chargeback {d['dispute_id']} on Checkout.com payment {d['payment_id']}: "
        f"{format_major(d['amount_minor'], d['currency'])}{f' ({why})' if why else ''}. "
        f"Evidence is due by {format_ts(d['evidence_required_by'])}; without it the dispute is lost."
    )


def raise_deadline_notes(
    fp: NoteWriter,
    engine: Engine,
    settings: ChargebackSettings | None = None,
    now: datetime | Callable[[], datetime] = utcnow,
) -> NotesResult:
    """One note (and one WARNING) per open dispute whose evidence is due within the window.

    Authentication and permission errors are raised (nothing else can succeed); any other
    FreshPortal failure is counted and the other disputes are still noted.
    """
    settings = settings or ChargebackSettings()
    at = now() if callable(now) else now
    result = NotesResult()
    if settings.evidence_deadline_warning_days <= 0:
        return result
    until = at + timedelta(days=settings.evidence_deadline_warning_days)
    for d in store.due_for_note(engine, at, until):
        result.due += 1
        _note_one(fp, d, result)
    if result.due:
        log.info(
            "evidence deadlines within %d day(s): %d dispute(s), %d note(s) created, %d failed",
            settings.evidence_deadline_warning_days,
            result.due,
            result.created,
            result.failed,
        )
    return result


def _note_one(fp: NoteWriter, d: Mapping[str, Any], result: NotesResult) -> None:
    order_id = str(d["order_id"])
    ref = external_ref(d["dispute_id"], d["evidence_required_by"])
    try:
        if fp.find_note(order_id, ref) is not None:
            result.already_noted += 1
            return
        fp.create_note(order_id, note_text(d), ref, category=CATEGORY)
    except (fp_errors.AuthenticationError, fp_errors.ForbiddenError):
        raise
    except fp_errors.FreshPortalError as exc:
        result.failed += 1
        if len(result.failures) < LIST_LIMIT:
            result.failures.append(f"order {order_id}, dispute {d['dispute_id']}: {type(exc).__name__}")
        log.warning(
            "evidence-deadline note for dispute %s on order %s failed (%s); the next run tries again",
            safe(d["dispute_id"]),
            safe(order_id),
            type(exc).__name__,
        )
        return
    result.created += 1
    log.warning(
        "chargeback %s (order %s, payment %s): evidence for %s is due by %s; note added to the order",
        safe(d["dispute_id"]),
        safe(order_id),
        safe(d["payment_id"]),
        safe(format_major(d["amount_minor"], d["currency"])),
        format_ts(d["evidence_required_by"]),
    )
