"""A person's word on an exception: ``explain`` (with a note and an author) and ``reopen``.

Reconciliation decides whether a discrepancy still exists; only a person can say it is
understood ("the customer paid by bank transfer, booked manually"). That mark is the one thing
in ``recon_exceptions`` a full rerun cannot rebuild, so it is kept apart from what the engine
refreshes: a run finding the exception again keeps it explained (reconcile/persist), and every
change appends a row to ``recon_exception_events`` with who, when and why (the audit trail).

Rules (docs/runbook-reconciliation.md):

* ``explain``: open or explained -> explained; ``explained_at/by``, ``explanation`` set,
  ``state_version`` + 1 (a FreshPortal note is owed for the new state), audit ``explained``.
  A resolved exception is refused: the discrepancy is gone, there is nothing to explain (it
  reopens by itself when a run finds it again).
* ``reopen``: explained -> open; the explanation is cleared (kept in the audit trail),
  ``state_version`` + 1, audit ``unexplained``. Open or resolved exceptions are refused.

Each change is one transaction guarded by the ``state_version`` it read, so a reconciliation run
changing the same exception meanwhile is never overwritten (the person gets a clear "try again").
Notes are masked (e-mail addresses, card-number-like digits) before they are stored: they reach
reports and FreshPortal notes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.errors import PermanentError
from checkout_freshportal.logsafe import mask_text, safe
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.schema.recon import recon_exception_events, recon_exceptions

E, EV = recon_exceptions, recon_exception_events

#: Longest note kept; a note is a sentence or two, not a document.
NOTE_LIMIT = 2000
AUTHOR_LIMIT = 200


class ExplainError(PermanentError, ValueError):
    """The change was refused (unknown exception, wrong status, empty note): the message says why."""


class ExceptionNotFound(ExplainError):
    pass


class ExceptionChangedMeanwhile(ExplainError):
    """Another writer (a reconciliation run) changed the exception between read and write."""

    permanent = False


@dataclass(frozen=True)
class ExceptionChange:
    exception_id: str
    exception_key: str
    kind: str
    from_status: str
    to_status: str
    state_version: int
    at: datetime
    actor: str  # as stored: masked and trimmed

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out


def find(conn: Connection, ref: str) -> dict[str, Any] | None:
    """The exception with this ``exception_id`` (``exc_...``) or ``exception_key``."""
    row = conn.execute(sa.select(E).where(sa.or_(E.c.exception_id == ref, E.c.exception_key == ref))).first()
    return dict(row._mapping) if row is not None else None


def events(conn: Connection, exception_id: str) -> list[dict[str, Any]]:
    """The audit trail of one exception, oldest first."""
    q = sa.select(EV).where(EV.c.exception_id == exception_id).order_by(EV.c.at, EV.c.event_id)
    return [dict(r._mapping) for r in conn.execute(q)]


#: Invisible format characters a note or an author is stripped of (bidi overrides and isolates,
#: zero-width spaces, the BOM): "explained by <U+200B>" read as explained by nobody. The joiners
#: U+200C/U+200D stay, some scripts and emoji need them.
_KEPT_FORMAT = frozenset("\u200c\u200d")


def _clean(text: str, what: str, limit: int) -> str:
    """The audit trail's text: plain, visible, masked. Control characters other than a line
    break or a tab are refused rather than stored (an escape sequence in a note would reach a
    terminal through anything that prints the trail without escaping it)."""
    raw = (text or "").replace("\r\n", "\n").replace("\r", "\n")  # a note pasted from Windows
    control = next((c for c in raw if unicodedata.category(c) == "Cc" and c not in "\n\t"), None)
    if control is not None:
        raise ExplainError(f"{what} contains a control character (U+{ord(control):04X}): write plain text")
    visible = "".join(c for c in raw if unicodedata.category(c) != "Cf" or c in _KEPT_FORMAT)
    cleaned = mask_text(visible.strip())
    if not any(not unicodedata.category(c).startswith(("Z", "C")) for c in cleaned):
        raise ExplainError(f"{what} is empty: say why (it is kept in the audit trail)")
    if len(cleaned) > limit:
        raise ExplainError(f"{what} is longer than {limit} characters")
    return cleaned


def explain(
    engine: Engine, exception_ref: str, *, note: str, author: str, at: datetime | None = None
) -> ExceptionChange:
    """Mark an open (or re-word an explained) exception as explained by ``author``."""
    note, author = _clean(note, "the note", NOTE_LIMIT), _clean(author, "the author", AUTHOR_LIMIT)
    values = {"explained_by": author, "explanation": note}
    return _change(
        engine, exception_ref, to="explained", allowed=("open", "explained"), action="explained",
        actor=author, note=note, at=at, values=values,
    )  # fmt: skip


def reopen(
    engine: Engine, exception_ref: str, *, note: str, author: str, at: datetime | None = None
) -> ExceptionChange:
    """Withdraw an explanation: the exception is open again and reports count it as such."""
    note, author = _clean(note, "the note", NOTE_LIMIT), _clean(author, "the author", AUTHOR_LIMIT)
    values = {"explained_at": None, "explained_by": None, "explanation": None}
    return _change(
        engine, exception_ref, to="open", allowed=("explained",), action="unexplained",
        actor=author, note=note, at=at, values=values,
    )  # fmt: skip


def _refusal(exc: dict[str, Any], to: str) -> str:
    ident = f"exception {safe(exc['exception_id'])} ({safe(exc['kind'])})"
    if exc["status"] == "resolved":
        return (
            f"{ident} is resolved (no longer found by reconciliation): there is nothing to {to}; "
            "it reopens by itself when a run finds it again"
        )
    return f"{ident} is {safe(exc['status'])}: only an explained exception can be reopened"


def _change(
    engine: Engine,
    ref: str,
    *,
    to: str,
    allowed: Sequence[str],
    action: str,
    actor: str,
    note: str,
    at: datetime | None,
    values: dict[str, Any],
) -> ExceptionChange:
    when = at or utcnow()
    with engine.begin() as conn:
        exc = find(conn, ref)
        if exc is None:
            raise ExceptionNotFound(f"no exception with id or key {safe(ref)}")
        if exc["status"] not in allowed:
            raise ExplainError(_refusal(exc, "explain" if to == "explained" else "reopen"))
        version = int(exc["state_version"]) + 1
        if to == "explained":
            values = {**values, "explained_at": when}
        done = conn.execute(
            sa.update(E)
            .where(E.c.exception_id == exc["exception_id"], E.c.state_version == exc["state_version"])
            .values(status=to, state_version=version, updated_at=when, **values)
        )
        if done.rowcount != 1:
            raise ExceptionChangedMeanwhile(
                f"exception {safe(exc['exception_id'])} changed while it was being updated; try again"
            )
        conn.execute(
            sa.insert(EV).values(
                exception_id=exc["exception_id"],
                at=when,
                actor=actor,
                action=action,
                from_status=exc["status"],
                to_status=to,
                note=note,
                run_id=None,
            )
        )
    return ExceptionChange(
        exc["exception_id"], exc["exception_key"], exc["kind"], exc["status"], to, version, when, actor
    )


def list_exceptions(
    engine: Engine,
    *,
    statuses: Sequence[str] = (),
    kinds: Sequence[str] = (),
    order_number: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Exceptions, highest severity and oldest first (what to look at first)."""
    sev = sa.case({"high": 0, "medium": 1, "low": 2}, value=E.c.severity, else_=3)
    q = sa.select(E)
    if statuses:
        q = q.where(E.c.status.in_(statuses))
    if kinds:
        q = q.where(E.c.kind.in_(kinds))
    if order_number:
        q = q.where(E.c.order_number == order_number)
    q = q.order_by(sev, E.c.first_seen_at, E.c.exception_key).limit(max(1, limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
