"""Exceptions back to FreshPortal: one note on the order per exception and state change.

Customer service works in FreshPortal, not in the warehouse: an order whose money is wrong
(``missing_payment``, ``over_refund``, ...) carries a note saying so, and another when the
exception is explained, resolved or reopened. Never once per run: a note is owed while
``state_version > COALESCE(notified_version, 0)`` and is written under the external ref
``cfp-exception:<exception_id>:v<state_version>``. FreshPortal's notes are not idempotent, so
:meth:`FreshPortalClient.create_note` looks for that ref first (and again after a failed post):
a crash between the note and the bookkeeping, a retry or a later run adds nothing. Only then is
``notified_version`` set, by an update guarded so it never goes backwards. Two writers at the
same moment could both look before either posts; there are none, since only the
``reconciliation`` DAG's ``note_exceptions`` task writes these notes and its runs never overlap
(``max_active_runs=1``; the captures, which a second run can overlap, claim each note first).

Exceptions without an order (an orphan payment, a payout) have no FreshPortal order to carry a
note and are never noted. A note says the kind, the amounts, the status and the exception id;
never a customer's data, never the free-text explanation (a person typed it for finance).

Two kinds of failure. A *permanent* refusal (FreshPortal no longer has the order: 404; it
refuses the note as invalid: 400/422; see :func:`checkout_freshportal.errors.is_permanent`)
gives the same answer on every retry: that state of the exception is *undeliverable*. It is
logged (WARNING), ``note_error`` says why (``undeliverable: ...``) and the state version is
marked handled (``notified_version`` = ``state_version`` with ``notified_at`` NULL: handled, not
noted), so one vanished order cannot fail every later run. Its next state change is tried
again. A *transient* failure (5xx, timeout, after the client's own retries) is counted, the
other exceptions are still noted, and the task then fails loudly (:class:`ExceptionNotesFailed`,
retried); the next run tries again. At most ``max_notes_per_run`` per run, oldest change first;
the rest waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from checkout_freshportal.errors import is_permanent
from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.logsafe import safe
from checkout_freshportal.money import MoneyError, format_major
from checkout_freshportal.reconcile.kinds import KINDS
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.sync.intents.errors import OutboundDeferred
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.schema.recon import recon_exceptions

log = logging.getLogger(__name__)
E = recon_exceptions

#: Exceptions that need someone's action; the rest (resolved, informational) are for the record.
ACTION_CATEGORY = "payment_exception"
INFO_CATEGORY = "payment_info"
#: How many failures a result lists (the counts are always complete).
LIST_LIMIT = 20


class NoteWriter(Protocol):
    """The part of ``FreshPortalClient`` the notes need."""

    def create_note(
        self, order_id: str, text: str, external_ref: str, *, category: str | None = None
    ) -> Any: ...


@dataclass
class NotesResult:
    owed: int = 0  # exceptions with an order whose current state FreshPortal has not been told
    noted: int = 0  # notes written (or found written by an earlier attempt) and recorded
    failed: int = 0  # transient: FreshPortal down or timing out; the next run tries again
    # permanent refusal (order gone: 404, note refused: 400/422): never retried for this state
    undeliverable: int = 0
    deferred: int = 0  # over max_notes_per_run: the next run writes them
    disabled: bool = False  # settings.notes is off
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def raise_for_failures(self) -> None:
        """Loud after every note had its chance (retried: FreshPortal may be back).

        Only transient failures count: an undeliverable note is recorded and logged, and
        failing the task for it would fail every later run too.
        """
        if self.failed:
            raise ExceptionNotesFailed(
                f"{self.failed} exception note(s) could not be written to FreshPortal", self.failures
            )


class ExceptionNotesFailed(OutboundDeferred):
    """Some exception notes were not written; a retry or the next run writes them."""


def external_ref(exception_id: str, state_version: int) -> str:
    """Stable per exception and state: the dedup key FreshPortal's notes lack."""
    return f"cfp-exception:{exception_id}:v{state_version}"


def _amount(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return "-"
    try:
        return format_major(int(minor), currency or "")
    except MoneyError:
        return f"{minor} (minor units)"


_STATUS_WORDS = {
    "open": "open: needs a look",
    "explained": "explained by finance",
    "resolved": "resolved: no longer found",
}


def note_text(e: Mapping[str, Any]) -> str:
    """What customer service reads: which discrepancy, how much, its status. No personal data."""
    kind = KINDS.get(e["kind"])
    parts = [
        f"Reconciliation {e['kind']} ({_STATUS_WORDS.get(e['status'], e['status'])}).",
        kind.meaning if kind else "",
        f"Expected {_amount(e['expected_minor'], e['currency'])}, "
        f"actual {_amount(e['actual_minor'], e['currency'])}.",
        f"Payment {e['payment_id']}." if e["payment_id"] else "",
        f"{e['detail']}" if e["detail"] else "",
        f"Exception {e['exception_id']} (cfp exceptions show {e['exception_id']}).",
    ]
    return " ".join(p for p in parts if p)


def _category(fp: Any, e: Mapping[str, Any]) -> str | None:
    wanted = INFO_CATEGORY if e["status"] == "resolved" or e["severity"] == "info" else ACTION_CATEGORY
    mapping = getattr(fp, "mapping", None)
    if mapping is not None and wanted not in mapping.note_categories:
        return None  # the tenant's default category
    return wanted


def owed(engine: Engine, limit: int | None = None) -> list[dict[str, Any]]:
    """Exceptions with an order whose current state has no note yet, oldest change first."""
    q = (
        sa.select(E)
        .where(E.c.order_id.is_not(None), E.c.state_version > sa.func.coalesce(E.c.notified_version, 0))
        .order_by(E.c.updated_at, E.c.exception_id)
    )
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def count_owed(engine: Engine) -> int:
    q = sa.select(sa.func.count()).where(
        E.c.order_id.is_not(None), E.c.state_version > sa.func.coalesce(E.c.notified_version, 0)
    )
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def note_exceptions(
    fp: NoteWriter,
    engine: Engine,
    settings: ReconcileSettings | None = None,
    *,
    now: datetime | Callable[[], datetime] = utcnow,
) -> NotesResult:
    """Write the owed notes (at most ``max_notes_per_run``); count failures, never stop at one.

    Authentication and permission errors are raised at once (nothing else can succeed). A
    permanent refusal (an order FreshPortal no longer has, a note it refuses as invalid) makes
    that state undeliverable: recorded in ``note_error``, marked handled, never retried. A
    transient failure (5xx, timeout) is counted and kept in ``note_error`` for the next run.
    The other exceptions are still noted either way.
    """
    settings = settings or ReconcileSettings()
    result = NotesResult()
    if not settings.notes:
        result.disabled = True
        return result
    total = count_owed(engine)
    batch = owed(engine, settings.max_notes_per_run)
    result.owed, result.deferred = total, total - len(batch)
    for e in batch:
        _note_one(fp, engine, e, now() if callable(now) else now, result)
    if total:
        log.info(
            "exception notes: %d owed, %d written, %d undeliverable, %d failed, %d left for the next run",
            total,
            result.noted,
            result.undeliverable,
            result.failed,
            result.deferred,
        )
    return result


def _note_one(
    fp: NoteWriter, engine: Engine, e: Mapping[str, Any], at: datetime, result: NotesResult
) -> None:
    version = int(e["state_version"])
    ref = external_ref(e["exception_id"], version)
    try:
        fp.create_note(str(e["order_id"]), note_text(e), ref, category=_category(fp, e))
    except (fp_errors.AuthenticationError, fp_errors.ForbiddenError):
        raise
    except fp_errors.FreshPortalError as exc:
        if is_permanent(exc):
            _undeliverable(engine, e, version, exc, result)
        else:
            _failed(engine, e, ref, exc, result)
        return
    with engine.begin() as conn:
        conn.execute(
            sa.update(E)
            .where(E.c.exception_id == e["exception_id"], sa.func.coalesce(E.c.notified_version, 0) < version)
            .values(notified_version=version, notified_at=at, note_error=None)
        )
    result.noted += 1


def _describe(exc: fp_errors.FreshPortalError) -> str:
    """Class and HTTP status only: the server's message may quote the note (never stored)."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} (HTTP {status})" if status else type(exc).__name__


def _undeliverable(
    engine: Engine, e: Mapping[str, Any], version: int, exc: fp_errors.FreshPortalError, result: NotesResult
) -> None:
    """A refusal a retry cannot change: mark this state handled (``notified_at`` NULL), say why."""
    result.undeliverable += 1
    why = f"undeliverable: {_describe(exc)}"
    log.warning(
        "exception note %s on order %s is undeliverable (%s): recorded, not retried for this state",
        safe(external_ref(e["exception_id"], version)),
        safe(e["order_id"]),
        _describe(exc),
    )
    with engine.begin() as conn:
        conn.execute(
            sa.update(E)
            .where(E.c.exception_id == e["exception_id"], sa.func.coalesce(E.c.notified_version, 0) < version)
            .values(notified_version=version, notified_at=None, note_error=safe(why))
        )


def _failed(
    engine: Engine, e: Mapping[str, Any], ref: str, exc: fp_errors.FreshPortalError, result: NotesResult
) -> None:
    result.failed += 1
    if len(result.failures) < LIST_LIMIT:
        result.failures.append(f"order {safe(e['order_id'])}, {safe(e['exception_id'])}: {_describe(exc)}")
    log.warning(
        "exception note %s on order %s failed (%s); the next run tries again",
        safe(ref),
        safe(e["order_id"]),
        _describe(exc),
    )
    _record_error(engine, e["exception_id"], _describe(exc))


def _record_error(engine: Engine, exception_id: str, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(E).where(E.c.exception_id == exception_id).values(note_error=safe(error)))
