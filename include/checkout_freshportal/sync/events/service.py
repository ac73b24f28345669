"""Apply stored webhook events to the derived payment status (use case of ``checkout_events``).

The sidecar commits every signed delivery to ``raw_webhook_events`` and answers 2xx; this module
turns the unprocessed rows into status, in batches (oldest first):

1. read a batch, parse each body, turn it into a :class:`~..status.facts.Fact` and group the
   facts by payment;
2. fold them into each payment's stored state (a join: order and duplicates do not matter) and
   derive the status; where the machine says "needs truth", read ``GET /payments/{id}`` -- at
   most once per payment per run, outside any transaction -- and fold that snapshot in;
3. in **one** transaction: upsert ``stg_payment_status`` (its ``version`` moves when the status,
   dispute, FreshPortal status or balances change), log declines/expiries in
   ``ops_payment_declines``, resolve the FreshPortal order, add a ``sync_status_outbox`` row with
   the order's next version when what FreshPortal should show changed, and mark the events
   processed. A crash anywhere leaves the events unprocessed and the tables as they were; a
   repeat applies the same facts to the same result.

Poison rows are never applied; each run lists them. The sidecar makes poison of what it cannot
parse; this module adds an event whose text no column can hold (``facts.UnsafeText``) and the
events of a payment whose row the database refuses (a data error, not an outage): the batch is
then written again payment by payment, so one bad event never holds up the others.
Parsing and folding are in :mod:`.parsing`, the API reads of step 2 in :mod:`.truth`, the
writes of step 3 in :mod:`.status_write`, every SQL statement is in :mod:`.store`; delivery to
FreshPortal is :mod:`..status_push.service`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.observability import bind
from checkout_freshportal.sync.chargebacks import staging as chargeback_staging
from checkout_freshportal.sync.chargebacks import sweep as chargeback_sweep
from checkout_freshportal.sync.events import store
from checkout_freshportal.sync.events.outbox import refresh_outbox
from checkout_freshportal.sync.events.parsing import Event, group_by_payment, parse_batch, payment_of
from checkout_freshportal.sync.events.result import (
    LIST_LIMIT,
    ApplyResult,
    PaymentReader,
    StatusMappingError,
    surface_poison,
)
from checkout_freshportal.sync.events.run_state import RunState
from checkout_freshportal.sync.events.settings import EventsSettings
from checkout_freshportal.sync.events.status_write import write_status
from checkout_freshportal.sync.events.truth import fetch_dispute_details, fetch_truth, kept
from checkout_freshportal.sync.status.derivation import Derivation
from checkout_freshportal.sync.status.mapping import StatusMapping
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.errors import is_data_error

log = logging.getLogger(__name__)


# ============================================================================ entry point


def apply_events(
    engine: Engine,
    checkout: PaymentReader | None,
    mapping: StatusMapping,
    settings: EventsSettings | None = None,
    *,
    run_id: str | None = None,
    now: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> ApplyResult:
    """Apply unprocessed events batch by batch until none are left or the time budget is spent.

    ``checkout`` None: never read the API (derive from the events alone). Raises
    :class:`StatusMappingError` at the end when a status had no FreshPortal mapping (everything
    else was committed), and lets a Checkout.com 4xx other than 404 through at once.
    """
    settings = settings or EventsSettings()
    run = RunState(engine, checkout, mapping, settings, run_id, now)
    result = run.result
    cursor: tuple[datetime, str] | None = None
    started = monotonic()
    while True:
        if monotonic() - started > settings.time_budget_seconds:
            result.budget_exhausted = True
            log.info("time budget of %.0f s spent; the next run continues", settings.time_budget_seconds)
            break
        batch = store.read_batch(engine, settings.batch_size, cursor)
        if not batch:
            break
        cursor = (batch[-1]["received_at"], batch[-1]["event_id"])
        result.batches += 1
        result.events_read += len(batch)
        _apply_batch(run, batch)
    _apply_swept_disputes(run)
    _resolve_late_orders(run)
    surface_poison(engine, result)
    log.info(
        "events applied: %d in %d batch(es), %d payment(s) changed, %d outbox row(s), %d deferred, "
        "%d poison waiting",
        result.events_applied,
        result.batches,
        result.payments_changed,
        result.outbox_rows,
        result.events_deferred,
        result.poison_count,
    )
    if result.unmapped:
        raise StatusMappingError(
            "status(es) without a FreshPortal mapping: "
            + "; ".join(result.unmapped)
            + " -- add them to the tenant mapping (docs/freshportal.md); all other events were applied"
        )
    return result


def apply_stored(
    engine: Engine,
    checkout: PaymentReader | None,
    mapping: StatusMapping,
    batches: Iterable[Sequence[Mapping[str, Any]]],
    settings: EventsSettings | None = None,
    *,
    run_id: str | None = None,
    now: Callable[[], datetime] = utcnow,
    failed: dict[str, str] | None = None,
) -> tuple[ApplyResult, dict[str, str]]:
    """Apply these batches of stored rows (``cfp replay webhooks``, docs/replay-and-rebuild.md)
    exactly as a run applies unprocessed ones; returns the result and the events set aside.

    ``batches`` may be a generator: a replay of a long range reads one batch at a time. A row
    whose ``processed_at`` is set was applied before: its fact is taken out of the stored state
    and derived again from the body, and it is not counted twice in ``events_applied``, so a
    replay after a fix brings the state to what the fixed code derives, and a second replay
    changes nothing. The outbox keeps its guarantee: a version is queued only when the payload
    changes. ``failed`` (returned too) is filled batch by batch: a caller reading the batches
    lazily sees which events of the last one were set aside before it gives the next.
    """
    settings = settings or EventsSettings()
    run = RunState(engine, checkout, mapping, settings, run_id, now)
    if failed is not None:
        run.failed = failed
    for rows in batches:
        batch = [dict(r) for r in rows]
        run.redo = frozenset(r["event_id"] for r in batch if r.get("processed_at") is not None)
        run.result.batches += 1
        run.result.events_read += len(batch)
        _apply_batch(run, batch)
    run.redo = frozenset()
    _resolve_late_orders(run)
    surface_poison(engine, run.result)
    return run.result, run.failed


# ============================================================================ one batch


def _apply_batch(run: RunState, batch: list[dict[str, Any]]) -> None:
    """Parse, ask the API where the facts do not suffice, then write everything in one transaction.

    One bad event never fails another: when the database refuses a value of the batch (a data
    error, told from an outage the way the sidecar tells it), the batch is written again payment
    by payment, and the events of a payment refused on its own are set aside as poison. An
    outage is raised as before: the whole batch stays unprocessed for the next run.
    """
    events, poison = parse_batch(batch)
    by_payment = group_by_payment(events)
    snapshots, deferred = fetch_truth(run, by_payment)
    fetch_dispute_details(run, events, deferred)
    before = _checkpoint(run)
    try:
        touched = _write(run, events, by_payment, snapshots, deferred, poison)
    except Exception as exc:
        if not is_data_error(exc):
            raise
        _restore(run, before)
        log.warning("the warehouse refused a value (%s); writing the batch payment by payment", _kind(exc))
        touched, refused, new_poison = _write_isolated(run, events, by_payment, snapshots, deferred, poison)
        events = [e for e in events if payment_of(e) not in refused]
        by_payment = {pid: evs for pid, evs in by_payment.items() if pid not in refused}
        poison = [*poison, *new_poison]
    _count(run, events, by_payment, deferred, poison, touched)


def _write(
    run: RunState,
    events: Sequence[Event],
    by_payment: Mapping[str, Sequence[Event]],
    snapshots: Mapping[str, Mapping[str, Any]],
    deferred: Mapping[str, str],
    poison: Sequence[tuple[str, str]],
) -> list[tuple[str, Derivation]]:
    """Status, declines, outbox and event marks of ``events`` in one transaction."""
    ts = run.now()
    with run.engine.begin() as conn:
        store.lock(conn)
        touched = write_status(conn, run, by_payment, snapshots, deferred, ts, kept(events, deferred))
        store.mark_processed(conn, [e.event_id for e in events if payment_of(e) not in deferred], ts)
        for pid, reason in deferred.items():
            store.mark_deferred(conn, [e.event_id for e in by_payment[pid]], reason)
        store.make_poison(conn, poison)
    return touched


def _write_isolated(
    run: RunState,
    events: Sequence[Event],
    by_payment: Mapping[str, Sequence[Event]],
    snapshots: Mapping[str, Mapping[str, Any]],
    deferred: Mapping[str, str],
    poison: Sequence[tuple[str, str]],
) -> tuple[list[tuple[str, Derivation]], set[str], list[tuple[str, str]]]:
    """A refused batch again, one transaction per payment (the rare path, so not bisected).

    Returns what was touched, the refused payments and ``(event_id, reason)`` for each of their
    events -- written as poison in a last transaction, together with the events about no payment
    and the batch's own poison. The reason names the error class, never the refused value.
    """
    touched: list[tuple[str, Derivation]] = []
    refused: set[str] = set()
    new_poison: list[tuple[str, str]] = []
    for pid in sorted(by_payment):
        evs = by_payment[pid]
        with bind(payment_id=pid):
            before = _checkpoint(run)
            mine = {pid: deferred[pid]} if pid in deferred else {}
            try:
                touched += _write(run, evs, {pid: evs}, snapshots, mine, ())
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                _restore(run, before)
                reason = f"apply: the warehouse refused payment {pid}'s status ({_kind(exc)})"
                refused.add(pid)
                new_poison += [(e.event_id, reason) for e in evs]
                log.warning("%s; its %d event(s) are set aside as poison", reason, len(evs))
    rest = [e for e in events if payment_of(e) is None]
    _write(run, rest, {}, snapshots, {}, [*poison, *new_poison])
    return touched, refused, new_poison


def _checkpoint(run: RunState) -> tuple[ApplyResult, set[str]]:
    """What a write changes in memory before its COMMIT: restored when the database refuses it."""
    return copy.deepcopy(run.result), set(run.unresolved)


def _restore(run: RunState, before: tuple[ApplyResult, set[str]]) -> None:
    result, unresolved = before
    for f in fields(ApplyResult):  # in place: the caller holds run.result
        setattr(run.result, f.name, getattr(result, f.name))
    run.unresolved = unresolved


def _kind(exc: BaseException) -> str:
    """The class (and SQLSTATE) of a refusal: enough to act on, and no echo of the value."""
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    return type(orig).__name__ + (f" {sqlstate}" if isinstance(sqlstate, str) and sqlstate else "")


def _count(
    run: RunState,
    events: Sequence[Event],
    by_payment: Mapping[str, Sequence[Event]],
    deferred: Mapping[str, str],
    poison: Sequence[tuple[str, str]],
    touched: Sequence[tuple[str, Derivation]],
) -> None:
    result = run.result
    applied = [e for e in events if payment_of(e) not in deferred]
    result.events_applied += len(applied)
    result.events_ignored += sum(1 for e in applied if e.fact is None and e.decline is None)
    result.events_deferred += sum(len(by_payment[p]) for p in deferred)
    result.events_made_poison += len(poison)
    run.failed.update(poison)
    run.failed.update(
        (e.event_id, deferred[p]) for p, evs in by_payment.items() if p in deferred for e in evs
    )
    run.touched.update((pid, d.problems) for pid, d in touched)
    result.payments_touched = len(run.touched)
    with_problems = sorted(pid for pid, problems in run.touched.items() if problems)
    result.payments_with_problems = len(with_problems)
    result.problems_sample = [
        {"payment_id": pid, "problems": list(run.touched[pid])} for pid in with_problems
    ][:LIST_LIMIT]


# ============================================================================ end of a run


def _apply_swept_disputes(run: RunState) -> None:
    """Disputes only the sweep has seen into their payments' status (docs/chargebacks.md)."""
    ts = run.now()
    with run.engine.begin() as conn:
        store.lock(conn)
        facts, newest = chargeback_sweep.swept_facts(conn)
        by_payment: dict[str, list[Event]] = defaultdict(list)
        for f in facts:
            by_payment[f.payment_id].append(Event(f.fact_id, f.kind, ts, 0, f, None))
        if by_payment:
            write_status(conn, run, by_payment, {}, {}, ts)
            # Details the sweep filled in (category, reason code, a moved deadline) change the
            # order's signal without changing any status: queued only if the payload changed.
            orders = chargeback_staging.orders_of(conn, by_payment)
            run.result.outbox_rows += refresh_outbox(conn, orders, run_id=run.run_id, now=ts)
        chargeback_sweep.advance(conn, newest, run.run_id)


def _resolve_late_orders(run: RunState) -> None:
    """Payments whose order was not staged yet when their status was: find it now.

    The outbox waits for the order; this pass releases it as soon as the orders feed has
    staged the order.
    """
    result = run.result
    ts = run.now()
    with run.engine.begin() as conn:
        store.lock(conn)
        found = store.resolve_late_orders(conn, ts)
        for payment_id, _order_id in found:
            run.unresolved.discard(payment_id)
        if found:
            result.orders_resolved_late += len(found)
            result.outbox_rows += refresh_outbox(conn, {o for _, o in found}, run_id=run.run_id, now=ts)
        result.unresolved_total = store.count_unresolved(conn)
    result.unresolved_payments = len(run.unresolved)
    result.unresolved_sample = sorted(run.unresolved)[:LIST_LIMIT]
    if run.unresolved:
        log.info(
            "%d payment(s) of this run have no FreshPortal order yet; their status waits in the outbox",
            len(run.unresolved),
        )
