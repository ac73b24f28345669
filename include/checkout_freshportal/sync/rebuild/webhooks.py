"""``cfp replay webhooks``: stored webhook events applied again through the events service.

The events are the ones of ``raw_webhook_events`` received (or, with ``by="occurred"``, created)
in the range, optionally of some event types. They go through ``sync/events/service.apply_stored``,
the batch path of the ``checkout_events`` DAG: the same parsing, fold, status rows, declines,
dispute merge and outbox, under the same lock. Events applied before have their facts derived
again from the body (not added twice), so a replay after a fix brings ``stg_payment_status`` to
what the fixed code derives, and a second replay changes nothing. The outbox queues a version
only when what FreshPortal should show changed, so nothing already delivered is sent again.

Poison events in the range are retried: they are made ordinary unprocessed events again (in
their own transaction) and the run sets aside again, with a fresh reason, those that still do not
parse. A crash in between leaves them unprocessed, which the next DAG run retries the same way.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.logsafe import safe
from checkout_freshportal.sync.events import service, store
from checkout_freshportal.sync.events.result import PaymentReader
from checkout_freshportal.sync.events.settings import EventsSettings
from checkout_freshportal.sync.rebuild.ranges import TimeRange
from checkout_freshportal.sync.status.mapping import StatusMapping
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse import schema

log = logging.getLogger(__name__)

By = Literal["received", "occurred"]
#: When a status row was written, not what it says.
BOOKKEEPING = frozenset({"first_seen_at", "updated_at"})
#: How many failed events a result lists (the count is always complete).
LIST_LIMIT = 20


@dataclass
class ReplayResult:
    range: dict[str, str]
    by: str
    event_types: list[str]
    dry_run: bool
    selected: int = 0
    applied: int = 0  # first applied now, or applied again with a different result
    unchanged: int = 0  # applied again to the same result
    failed: int = 0  # set aside (poison) or deferred (Checkout.com unavailable)
    failed_events: list[dict[str, str]] = field(default_factory=list)
    previously_processed: int = 0
    previously_unprocessed: int = 0
    poison_retried: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    payments: int = 0
    payments_changed: int = 0  # status rows that differ after the replay (bookkeeping aside)
    outbox_rows: int = 0  # versions queued for FreshPortal (only where the payload changed)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_events(
    conn: Connection,
    rng: TimeRange,
    event_types: Sequence[str] = (),
    by: By = "received",
    *,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The stored events of the range, oldest first (as the DAG reads them): those after
    ``after`` (a ``(received_at, event_id)`` cursor), at most ``limit``."""
    t = schema.raw_webhook_events
    at = t.c.received_at if by == "received" else t.c.occurred_at
    cond: list[sa.ColumnElement[bool]] = [at >= rng.start, at < rng.end]
    if event_types:
        cond.append(t.c.event_type.in_(sorted(set(event_types))))
    if after is not None:
        cond.append(
            sa.or_(t.c.received_at > after[0], sa.and_(t.c.received_at == after[0], t.c.event_id > after[1]))
        )
    stmt = (
        sa.select(
            t.c.event_id,
            t.c.event_type,
            t.c.subject_id,
            t.c.occurred_at,
            t.c.received_at,
            t.c.body,
            t.c.process_attempts,
            t.c.processed_at,
            t.c.is_poison,
        )
        .where(*cond)
        .order_by(t.c.received_at, t.c.event_id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def replay_webhooks(
    engine: Engine,
    checkout: PaymentReader | None,
    mapping: StatusMapping,
    rng: TimeRange,
    *,
    event_types: Sequence[str] = (),
    by: By = "received",
    dry_run: bool = False,
    settings: EventsSettings | None = None,
    run_id: str | None = "cli-replay",
    now: Callable[[], datetime] = utcnow,
) -> ReplayResult:
    """Replay the range (see the module); ``dry_run`` reads the selection and writes nothing.

    The range is read one batch (``settings.batch_size`` events) at a time and each batch is
    applied before the next is read, so a replay of months holds one batch of bodies in memory.
    ``checkout`` None: no ``GET /payments/{id}`` (derive from the events and stored answers alone).
    """
    settings = settings or EventsSettings()
    result = ReplayResult(rng.as_dict(), by, sorted(set(event_types)), dry_run, notes=list(rng.notes))
    payments: set[str] = set()
    changed: set[str] = set()
    failed: dict[str, str] = {}
    pages = _pages(engine, rng, event_types, by, settings.batch_size)
    if dry_run:
        for page in pages:
            _describe(result, page, payments)
        return result
    applied, _ = service.apply_stored(
        engine,
        checkout,
        mapping,
        _applied_pages(engine, pages, result, payments, changed, failed),
        settings,
        run_id=run_id,
        now=now,
        failed=failed,
    )
    result.payments_changed = len(changed)
    result.outbox_rows = applied.outbox_rows
    result.unmapped = list(applied.unmapped)
    log.info(
        "replayed %d event(s): %d applied, %d unchanged, %d failed; %d outbox row(s)",
        result.selected,
        result.applied,
        result.unchanged,
        result.failed,
        result.outbox_rows,
    )
    return result


def _pages(
    engine: Engine, rng: TimeRange, event_types: Sequence[str], by: By, size: int
) -> Iterator[list[dict[str, Any]]]:
    """The selection, ``size`` events at a time, each page read in its own short connection."""
    cursor: tuple[datetime, str] | None = None
    while True:
        with engine.connect() as conn:
            page = select_events(conn, rng, event_types, by, after=cursor, limit=size)
        if not page:
            return
        cursor = (page[-1]["received_at"], page[-1]["event_id"])
        yield page
        if len(page) < size:
            return


def _applied_pages(
    engine: Engine,
    pages: Iterable[list[dict[str, Any]]],
    result: ReplayResult,
    payments: set[str],
    changed: set[str],
    failed: Mapping[str, str],
) -> Iterator[list[dict[str, Any]]]:
    """Each page as the events service applies it: its poison made ordinary first, its payments'
    status rows read before and after, its events classified once it was applied."""
    for page in pages:
        _describe(result, page, payments)
        poison = [r["event_id"] for r in page if r["is_poison"] and r["processed_at"] is None]
        if poison:
            _unpoison(engine, poison)
        mine = sorted({p for p in (_payment_of(r) for r in page) if p is not None})
        with engine.connect() as conn:
            before = _status(conn, mine)
        yield page  # the service applies it before asking for the next one
        with engine.connect() as conn:
            after = _status(conn, mine)
        now_changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
        changed.update(now_changed)
        _classify(result, page, failed, now_changed)


def _describe(result: ReplayResult, rows: Sequence[Mapping[str, Any]], payments: set[str]) -> None:
    """Add a page to the selection's counts (``payments``: the distinct payments seen so far)."""
    result.selected += len(rows)
    processed = sum(1 for r in rows if r["processed_at"] is not None)
    result.previously_processed += processed
    result.previously_unprocessed += len(rows) - processed
    result.poison_retried += sum(1 for r in rows if r["is_poison"] and r["processed_at"] is None)
    types = Counter(result.by_type)
    types.update(str(r["event_type"] or "(poison)") for r in rows)
    result.by_type = dict(sorted(types.items()))
    payments.update(p for p in (_payment_of(r) for r in rows) if p is not None)
    result.payments = len(payments)


def _classify(
    result: ReplayResult,
    rows: Sequence[Mapping[str, Any]],
    failed: Mapping[str, str],
    changed: set[str],
) -> None:
    """Per event of an applied page: failed (set aside now), applied (new, or its payment's row
    differs), unchanged."""
    for r in rows:
        eid = r["event_id"]
        if eid in failed:
            result.failed += 1
            if len(result.failed_events) < LIST_LIMIT:
                result.failed_events.append({"event_id": safe(eid), "reason": safe(failed[eid])})
        elif r["processed_at"] is None or _payment_of(r) in changed:
            result.applied += 1
        else:
            result.unchanged += 1


def _unpoison(engine: Engine, event_ids: Sequence[str]) -> None:
    """Make poison events ordinary unprocessed ones, so the run tries them (and sets aside again
    those that still fail, with the new reason)."""
    t = schema.raw_webhook_events
    with engine.begin() as conn:
        store.lock(conn)
        for start in range(0, len(event_ids), store.CHUNK):
            chunk = list(event_ids[start : start + store.CHUNK])
            conn.execute(
                t.update().where(t.c.event_id.in_(chunk), t.c.processed_at.is_(None)).values(is_poison=False)
            )


def _payment_of(row: Mapping[str, Any]) -> str | None:
    """The payment an event is about: its subject, or a dispute's ``data.payment_id``."""
    subject = row.get("subject_id")
    if isinstance(subject, str) and subject.startswith("pay_"):
        return subject
    try:
        data = json.loads(bytes(row["body"])).get("data")
    except (ValueError, AttributeError, TypeError):
        return None
    pid = data.get("payment_id") if isinstance(data, Mapping) else None
    return pid if isinstance(pid, str) else None


def _status(conn: Connection, payment_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The payments' status rows without bookkeeping (what a replay may change)."""
    out: dict[str, tuple[Any, ...]] = {}
    for row in store.status_rows(conn, payment_ids):
        out[row["payment_id"]] = tuple(
            json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
            for k, v in sorted(row.items())
            if k not in BOOKKEEPING
        )
    return out
