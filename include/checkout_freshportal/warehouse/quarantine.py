"""The store of ``ops_quarantine``: what ingestion could not read, kept aside with its reason.

An item (a payment, a dispute, a report listing entry, a report file) that cannot be read is
recorded here in the transaction that lands the rest of its batch, so the watermark can move past
it: from then on the quarantine, not the watermark, remembers it. Its life:

* ``quarantined``: later runs retry it on their own, up to a number of attempts;
* ``parked``: the attempts are used up; runs leave it alone (it is counted, listed, not retried)
  until an operator re-queues it;
* ``requeued``: an operator asked (``cfp quarantine requeue``) for the next run to retry it;
* ``resolved``: a later attempt read it; the row stays for the audit trail.

A resolved item that fails again starts a new episode (attempts from 1). The use case decides
what to do about an item; this module only keeps the rows, on SQLite and PostgreSQL alike
(read-then-write in the caller's transaction: ``checkout_ingest`` runs one at a time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.timeutil import format_ts, format_ts_or_none, utcnow
from checkout_freshportal.warehouse.schema import ops_quarantine as T

QUARANTINED, PARKED, REQUEUED, RESOLVED = "quarantined", "parked", "requeued", "resolved"
STATES: tuple[str, ...] = (QUARANTINED, PARKED, REQUEUED, RESOLVED)
#: The states a run retries by itself.
DUE_STATES: tuple[str, ...] = (QUARANTINED, REQUEUED)

#: Where an item's raw copy is (``raw_location``).
RAW_API_OBJECTS = "raw_api_objects"  # (source, item_id, payload_sha256) in raw_api_objects
RAW_REPORT_FILE = "raw_report_file_contents"  # file_id = item_id
RAW_PAYLOAD = "payload"  # this row's payload column
RAW_NONE = "none"  # nothing could be stored (e.g. the download itself was refused)

REASON_LIMIT = 2000
#: The key of a payload kept as text (see :func:`storable_payload`).
UNSTORABLE_JSON = "unstorable_json"


class UnknownQuarantineItemError(LookupError):
    """No quarantined item with that source and id (the message says which, and what exists)."""


@dataclass(frozen=True)
class QuarantineItem:
    source: str
    item_id: str
    parent_id: str | None
    state: str
    reason: str
    error_class: str
    raw_location: str
    payload_sha256: str | None
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    requeued_at: datetime | None
    resolved_at: datetime | None
    run_id: str | None
    payload: Any = None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("first_failed_at", "last_failed_at", "requeued_at", "resolved_at"):
            out[key] = format_ts_or_none(out[key])
        return out


@dataclass(frozen=True)
class Failure:
    """One failed read of an item, as the use case describes it (reason already made safe)."""

    source: str
    item_id: str
    reason: str
    error_class: str
    raw_location: str
    payload_sha256: str | None = None
    payload: Any = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_failure` did: ``new`` when the item was not open before."""

    new: bool
    state: str
    attempts: int


_COLUMNS = [c for c in T.columns if c.name != "payload"]


def storable_payload(payload: Any) -> Any:
    """``payload`` as the ``payload`` column can hold it on both engines.

    An unreadable item is often unreadable because of such text: PostgreSQL's JSONB refuses a
    NUL character and neither driver can encode a lone surrogate, both of which a JSON answer
    may carry (``\\u0000``, ``\\ud800``). Refused, the quarantine row would roll back the
    batch it belongs to, run after run. Such a payload is kept as its JSON text with every
    non-ASCII character escaped, ``{"unstorable_json": "..."}``; reading the row restores it
    (:func:`_restored`), so a retry and ``cfp quarantine list --json`` see what was received.
    """
    if payload is None:
        return None
    if _is_wrapped(payload):  # a payload that looks wrapped is wrapped once more: exact round trip
        return {UNSTORABLE_JSON: json.dumps(payload, sort_keys=True, separators=(",", ":"))}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        if "\\u0000" not in text:  # json.dumps writes a NUL as this escape
            return payload
    return {UNSTORABLE_JSON: json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)}


def _is_wrapped(payload: Any) -> bool:
    return isinstance(payload, dict) and len(payload) == 1 and isinstance(payload.get(UNSTORABLE_JSON), str)


def _restored(payload: Any) -> Any:
    """The payload as it was received (see :func:`storable_payload`)."""
    return json.loads(payload[UNSTORABLE_JSON]) if _is_wrapped(payload) else payload


def _item(row: Any, with_payload: bool) -> QuarantineItem:
    data = dict(row._mapping)
    return QuarantineItem(**{**data, "payload": _restored(data.get("payload")) if with_payload else None})


def record_failure(
    conn: Connection,
    failure: Failure,
    *,
    max_attempts: int,
    count_attempt: bool = True,
    run_id: str | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Record that ``failure.item_id`` could not be read, in the caller's transaction.

    A new item (or a resolved one failing again) starts at attempt 1. An open one gets the new
    reason; ``count_attempt`` (a retry, as opposed to meeting the item again in a listing) adds
    an attempt and sets the state: parked once ``max_attempts`` are used, else quarantined.
    """
    now = now or utcnow()
    key = (T.c.source == failure.source) & (T.c.item_id == failure.item_id)
    old = conn.execute(sa.select(T.c.state, T.c.attempts).where(key)).first()
    values: dict[str, Any] = {
        "reason": failure.reason[:REASON_LIMIT],
        "error_class": failure.error_class,
        "raw_location": failure.raw_location,
        "payload_sha256": failure.payload_sha256,
        "payload": storable_payload(failure.payload),
        "parent_id": failure.parent_id,
        "last_failed_at": now,
        "run_id": run_id,
    }
    if old is None or old.state == RESOLVED:
        attempts = 1
        state = PARKED if attempts >= max_attempts else QUARANTINED
        values |= {"state": state, "attempts": attempts, "first_failed_at": now, "resolved_at": None}
        if old is None:
            conn.execute(sa.insert(T).values(source=failure.source, item_id=failure.item_id, **values))
        else:
            conn.execute(sa.update(T).where(key).values(requeued_at=None, **values))
        return Recorded(True, state, attempts)
    attempts, state = old.attempts, old.state
    if count_attempt:
        attempts += 1
        state = PARKED if attempts >= max_attempts else QUARANTINED
    conn.execute(sa.update(T).where(key).values(state=state, attempts=attempts, **values))
    return Recorded(False, state, attempts)


def resolve(
    conn: Connection,
    source: str,
    item_ids: Iterable[str],
    *,
    run_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Mark open items resolved (read at last); returns how many were open."""
    ids = sorted(set(item_ids))
    if not ids:
        return 0
    now = now or utcnow()
    done = 0
    for start in range(0, len(ids), 500):
        stmt = (
            sa.update(T)
            .where(T.c.source == source, T.c.item_id.in_(ids[start : start + 500]), T.c.state != RESOLVED)
            .values(state=RESOLVED, resolved_at=now, run_id=run_id)
        )
        done += conn.execute(stmt).rowcount or 0
    return done


def open_items(conn: Connection, source: str, states: Sequence[str] = DUE_STATES) -> list[QuarantineItem]:
    """Open items of ``source`` in ``states`` (by default: those a run retries), oldest first."""
    rows = conn.execute(
        sa.select(T)
        .where(T.c.source == source, T.c.state.in_(list(states)))
        .order_by(T.c.first_failed_at, T.c.item_id)
    )
    return [_item(r, True) for r in rows]


def due_ids(conn: Connection, source: str) -> set[str]:
    """Ids of the items of ``source`` a run retries now (``DUE_STATES``), without payloads."""
    stmt = sa.select(T.c.item_id).where(T.c.source == source, T.c.state.in_(list(DUE_STATES)))
    return set(conn.execute(stmt).scalars())


def open_ids(conn: Connection, source: str) -> set[str]:
    """Every unresolved item id of ``source`` (parked ones included)."""
    stmt = sa.select(T.c.item_id).where(T.c.source == source, T.c.state != RESOLVED)
    return set(conn.execute(stmt).scalars())


def count_by_state(conn: Connection, source: str | None = None) -> dict[str, int]:
    stmt = sa.select(T.c.state, sa.func.count()).group_by(T.c.state)
    if source is not None:
        stmt = stmt.where(T.c.source == source)
    return {state: int(n) for state, n in conn.execute(stmt).all()}


def list_items(
    conn: Connection,
    *,
    source: str | None = None,
    states: Sequence[str] | None = None,
    with_payload: bool = False,
    limit: int | None = None,
) -> list[QuarantineItem]:
    """Items newest failure first, filtered by source and states (default: every state)."""
    stmt = sa.select(*(list(T.columns) if with_payload else _COLUMNS))
    if source is not None:
        stmt = stmt.where(T.c.source == source)
    if states:
        stmt = stmt.where(T.c.state.in_(list(states)))
    stmt = stmt.order_by(T.c.last_failed_at.desc(), T.c.source, T.c.item_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_item(r, with_payload) for r in conn.execute(stmt)]


def requeue(conn: Connection, source: str, item_id: str, *, now: datetime | None = None) -> QuarantineItem:
    """Ask the next run to retry one open item; a resolved or unknown one is refused."""
    key = (T.c.source == source) & (T.c.item_id == item_id)
    row = conn.execute(sa.select(*_COLUMNS).where(key)).first()
    if row is None:
        raise UnknownQuarantineItemError(_unknown(conn, source, item_id))
    if row.state == RESOLVED:
        raise UnknownQuarantineItemError(
            f"{source} {item_id} was resolved at {format_ts(row.resolved_at)}: nothing to re-queue"
        )
    conn.execute(sa.update(T).where(key).values(state=REQUEUED, requeued_at=now or utcnow()))
    return _item(conn.execute(sa.select(*_COLUMNS).where(key)).one(), False)


def requeue_all(conn: Connection, source: str | None = None, *, now: datetime | None = None) -> int:
    """Re-queue every open item (of one source); returns how many."""
    stmt = sa.update(T).where(T.c.state != RESOLVED).values(state=REQUEUED, requeued_at=now or utcnow())
    if source is not None:
        stmt = stmt.where(T.c.source == source)
    return conn.execute(stmt).rowcount or 0


def _unknown(conn: Connection, source: str, item_id: str) -> str:
    sources = sorted(conn.execute(sa.select(T.c.source).distinct()).scalars())
    where = f"sources with items: {', '.join(sources)}" if sources else "the quarantine is empty"
    return f"no quarantined item {item_id!r} in source {source!r} ({where})"
