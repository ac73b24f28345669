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

Poison rows (the sidecar could not parse them) are never applied; each run lists them.
Delivery to FreshPortal is :mod:`.status_push`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.checkout.errors import (
    CheckoutError,
    CheckoutTransportError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from checkout_freshportal.checkout.statuses import BALANCE_FIELDS
from checkout_freshportal.checkout.webhooks import MalformedEnvelope, parse_envelope
from checkout_freshportal.errors import PermanentError
from checkout_freshportal.sync.status.declines import DeclineRecord, decline_from_event, declines_from_payment
from checkout_freshportal.sync.status.derivation import Derivation, PaymentState
from checkout_freshportal.sync.status.facts import Fact, fact_from_event, fact_from_payment
from checkout_freshportal.sync.status.mapping import (
    PaymentSummary,
    StatusMapping,
    freshportal_status,
    governing_payment,
    refund_state,
)
from checkout_freshportal.timeutil import format_ts, utcnow
from checkout_freshportal.warehouse import locks, schema
from checkout_freshportal.warehouse.upsert import upsert

log = logging.getLogger(__name__)

#: Serialises the writers of status and outbox on PostgreSQL (apply and push of any run).
#: How many ids/rows a result lists (the counts are always complete).
LIST_LIMIT = 20


class PaymentReader(Protocol):
    """The part of ``CheckoutClient`` this use case needs."""

    def get_payment(self, payment_id: str) -> Mapping[str, Any]: ...


class StatusMappingError(PermanentError, RuntimeError):
    """A derived status the tenant mapping does not cover; the rest of the run was applied (permanent)."""


@dataclass(frozen=True)
class EventsSettings:
    # Events per transaction. Larger batches amortise the commit; smaller ones keep the SQLite
    # write lock (shared with the sidecar) short. 500 events commit in well under a second.
    batch_size: int = 500
    # A run stops taking new batches after this long; the next run (at most 10 min later, or
    # the sidecar's next trigger) continues. Keeps one run from hogging the single active slot.
    time_budget_seconds: float = 240.0
    # Ask GET /payments/{id} when the facts are missing or contradict each other.
    fetch_truth: bool = True
    # An event whose payment needs the API while the API fails is kept for the next run, at most
    # this many times; then it is applied without the snapshot (its problems stay recorded).
    max_deferrals: int = 5

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> EventsSettings:
        if not values:
            return cls()
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown events setting(s): {', '.join(unknown)}")
        out = cls()
        for key, value in values.items():
            if value is not None:
                current = getattr(out, key)
                out = replace(out, **{key: type(current)(value)})
        if out.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        return out


@dataclass
class ApplyResult:
    batches: int = 0
    events_read: int = 0
    events_applied: int = 0
    events_ignored: int = 0  # parsed, but about no payment status (e.g. retrieval requests)
    events_deferred: int = 0  # kept for the next run: their payment needed the API, which failed
    events_made_poison: int = 0  # unparseable here although the sidecar stored them as valid
    payments_touched: int = 0
    payments_changed: int = 0  # version moved
    truth_fetched: int = 0
    truth_not_found: int = 0
    truth_failed: int = 0
    declines_logged: int = 0
    outbox_rows: int = 0
    orders_resolved_late: int = 0  # payments whose order was found after their status
    unresolved_payments: int = 0  # payments touched this run still without an order
    unresolved_total: int = 0  # every payment without an order (outbox waits for them)
    unresolved_sample: list[str] = field(default_factory=list)
    payments_with_problems: int = 0
    problems_sample: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    poison_count: int = 0
    poison: list[dict[str, Any]] = field(default_factory=list)
    budget_exhausted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Event:
    event_id: str
    event_type: str
    received_at: datetime
    attempts: int
    fact: Fact | None
    decline: DeclineRecord | None


@dataclass
class _Stored:
    version: int
    order_id: str | None
    state: PaymentState
    material: tuple
    events_applied: int
    truth_fetched_at: datetime | None


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
    result = ApplyResult()
    fetched: set[str] = set()  # GET /payments/{id} at most once per payment per run
    unresolved: set[str] = set()  # payments of this run without a FreshPortal order
    touched: dict[str, tuple[str, ...]] = {}  # payment id -> its problems after this run
    cursor: tuple[datetime, str] | None = None
    started = monotonic()
    while True:
        if monotonic() - started > settings.time_budget_seconds:
            result.budget_exhausted = True
            log.info("time budget of %.0f s spent; the next run continues", settings.time_budget_seconds)
            break
        batch = _read_batch(engine, settings.batch_size, cursor)
        if not batch:
            break
        cursor = (batch[-1]["received_at"], batch[-1]["event_id"])
        result.batches += 1
        result.events_read += len(batch)
        _apply_batch(
            engine, checkout, mapping, settings, batch, fetched, unresolved, touched, result, run_id, now
        )
    _resolve_late_orders(engine, result, unresolved, run_id, now)
    _surface_poison(engine, result)
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


# ============================================================================ reading


def _read_batch(engine: Engine, limit: int, cursor: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    """Unprocessed, non-poison events after ``cursor`` (each event is visited once per run)."""
    t = schema.raw_webhook_events
    cond = [t.c.processed_at.is_(None), t.c.is_poison.is_(False)]
    if cursor is not None:
        at, event_id = cursor
        cond.append(sa.or_(t.c.received_at > at, sa.and_(t.c.received_at == at, t.c.event_id > event_id)))
    stmt = (
        sa.select(
            t.c.event_id,
            t.c.event_type,
            t.c.occurred_at,
            t.c.received_at,
            t.c.body,
            t.c.process_attempts,
        )
        .where(*cond)
        .order_by(t.c.received_at, t.c.event_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _parse(row: Mapping[str, Any]) -> _Event:
    """Raises MalformedEnvelope for a body the sidecar should have marked poison."""
    env = parse_envelope(bytes(row["body"]))
    if env.id != row["event_id"]:
        raise MalformedEnvelope("envelope id differs from the stored event id")
    at = env.occurred_at or row["occurred_at"] or row["received_at"]
    data = env.data
    return _Event(
        event_id=env.id,
        event_type=env.type,
        received_at=row["received_at"],
        attempts=int(row["process_attempts"] or 0),
        fact=fact_from_event(env.id, env.type, at, data),
        decline=decline_from_event(env.id, env.type, at, data),
    )


def _load_stored(conn: Connection, payment_ids: Sequence[str]) -> dict[str, _Stored]:
    t = schema.stg_payment_status
    out: dict[str, _Stored] = {}
    for start in range(0, len(payment_ids), 500):
        chunk = list(payment_ids[start : start + 500])
        for row in conn.execute(sa.select(t).where(t.c.payment_id.in_(chunk))):
            r = row._mapping
            out[r["payment_id"]] = _Stored(
                version=int(r["version"]),
                order_id=r["order_id"],
                state=PaymentState.from_json(r["state"], r["payment_id"]),
                material=_material_of_row(r),
                events_applied=int(r["events_applied"]),
                truth_fetched_at=r["truth_fetched_at"],
            )
    return out


# ============================================================================ one batch


def _apply_batch(
    engine: Engine,
    checkout: PaymentReader | None,
    mapping: StatusMapping,
    settings: EventsSettings,
    batch: list[dict[str, Any]],
    fetched: set[str],
    unresolved: set[str],
    touched_ids: dict[str, tuple[str, ...]],
    result: ApplyResult,
    run_id: str | None,
    now: Callable[[], datetime],
) -> None:
    events: list[_Event] = []
    poison: list[tuple[str, str]] = []
    for row in batch:
        try:
            events.append(_parse(row))
        except MalformedEnvelope as exc:
            poison.append((row["event_id"], f"apply: {exc}"))
    by_payment: dict[str, list[_Event]] = defaultdict(list)
    for ev in events:
        if ev.fact is not None:
            by_payment[ev.fact.payment_id].append(ev)
        elif ev.decline is not None:
            by_payment[ev.decline.payment_id].append(ev)

    # Phase 1 (read only): which payments need the API?
    with engine.connect() as conn:
        stored = _load_stored(conn, sorted(by_payment))
    want_truth = []
    for pid, evs in by_payment.items():
        base = stored[pid].state if pid in stored else PaymentState(pid)
        state = base.add(*[e.fact for e in evs if e.fact is not None])
        if state.derive().needs_truth and pid not in fetched:
            want_truth.append(pid)

    # Phase 2 (no transaction open): GET /payments/{id}, once per payment per run.
    snapshots: dict[str, Mapping[str, Any]] = {}
    deferred: dict[str, str] = {}
    if checkout is not None and settings.fetch_truth:
        for pid in want_truth:
            fetched.add(pid)
            try:
                snapshots[pid] = checkout.get_payment(pid)
                result.truth_fetched += 1
            except NotFoundError:
                result.truth_not_found += 1
                log.warning("GET /payments/%s -> 404: applying its events without a snapshot", pid)
            except (RateLimitedError, ServerError, CheckoutTransportError) as exc:
                result.truth_failed += 1
                oldest = max(e.attempts for e in by_payment[pid])
                if oldest + 1 < settings.max_deferrals:
                    deferred[pid] = (
                        f"deferred: GET /payments/{pid} failed: {type(exc).__name__} {exc.status or ''}"
                    )
                log.warning(
                    "GET /payments/%s failed (%s); events kept for the next run", pid, type(exc).__name__
                )
            except CheckoutError:
                raise  # 401/403/422/...: our credentials or request are wrong; be loud

    # Phase 3: one transaction for status, declines, outbox and the processed marks.
    ts = now()
    with engine.begin() as conn:
        _lock(conn)
        stored = _load_stored(conn, sorted(by_payment))
        changed_orders: set[str] = set()
        status_rows: list[dict[str, Any]] = []
        declines: dict[str, DeclineRecord] = {}
        touched: list[tuple[str, Derivation]] = []
        for pid, evs in sorted(by_payment.items()):
            if pid in deferred:
                continue
            prev = stored.get(pid)
            base = prev.state if prev else PaymentState(pid)
            state = base.add(*[e.fact for e in evs if e.fact is not None])
            truth_at = prev.truth_fetched_at if prev else None
            snap = snapshots.get(pid)
            if snap is not None:
                as_of = state.as_of()
                if as_of is not None:
                    state = state.add(fact_from_payment(snap, as_of))
                truth_at = ts
                for d in declines_from_payment(snap):
                    declines.setdefault(d.decline_id, d)
            for e in evs:
                if e.decline is not None:
                    declines[e.decline.decline_id] = e.decline  # a webhook's record beats the API's
            if not state.facts:
                continue  # only declines of a payment we know nothing else about
            d = state.derive()
            touched.append((pid, d))
            row, changed, order_id = _status_row(
                conn, pid, state, d, mapping, prev, len(evs), truth_at, ts, result
            )
            status_rows.append(row)
            if changed:
                result.payments_changed += 1
            if order_id is None:
                unresolved.add(pid)
            else:
                unresolved.discard(pid)
                if changed or prev is None or prev.order_id is None:
                    changed_orders.add(order_id)
        if status_rows:
            upsert(conn, schema.stg_payment_status, status_rows, ["payment_id"], now=ts)
        result.declines_logged += _log_declines(conn, declines.values(), ts)
        result.outbox_rows += refresh_outbox(conn, changed_orders, run_id=run_id, now=ts)
        _mark(conn, [e for e in events if _payment_of(e) not in deferred], ts, None)
        for pid, reason in deferred.items():
            _mark_deferred(conn, [e.event_id for e in by_payment[pid]], reason)
        _make_poison(conn, poison)
    applied = [e for e in events if _payment_of(e) not in deferred]
    result.events_applied += len(applied)
    result.events_ignored += sum(1 for e in applied if e.fact is None and e.decline is None)
    result.events_deferred += sum(len(by_payment[p]) for p in deferred)
    result.events_made_poison += len(poison)
    touched_ids.update((pid, d.problems) for pid, d in touched)
    result.payments_touched = len(touched_ids)
    with_problems = sorted(pid for pid, problems in touched_ids.items() if problems)
    result.payments_with_problems = len(with_problems)
    result.problems_sample = [
        {"payment_id": pid, "problems": list(touched_ids[pid])} for pid in with_problems
    ][:LIST_LIMIT]


def _payment_of(e: _Event) -> str | None:
    if e.fact is not None:
        return e.fact.payment_id
    return e.decline.payment_id if e.decline is not None else None


def _lock(conn: Connection) -> None:
    locks.xact_lock(conn, locks.PAYMENT_STATUS)


def _material(d: Derivation, fp_status: str | None) -> tuple:
    """What, when it changes, bumps a payment's version."""
    b = d.balances.as_list() if d.balances is not None else None
    return (d.status, d.dispute_id, d.dispute_status, d.dispute_state, fp_status, d.currency, tuple(b or ()))


def _material_of_row(r: Mapping[str, Any]) -> tuple:
    bal = [r[f"{name}_minor"] for name in BALANCE_FIELDS]
    b = tuple(bal) if all(v is not None for v in bal) else ()
    return (
        r["status"],
        r["dispute_id"],
        r["dispute_status"],
        r["dispute_state"],
        r["freshportal_status"],
        r["currency"],
        b,
    )


def _status_row(
    conn: Connection,
    pid: str,
    state: PaymentState,
    d: Derivation,
    mapping: StatusMapping,
    prev: _Stored | None,
    new_events: int,
    truth_at: datetime | None,
    ts: datetime,
    result: ApplyResult,
) -> tuple[dict[str, Any], bool, str | None]:
    problems = list(d.problems)
    try:
        fp_status = freshportal_status(d, mapping)
    except (LookupError, ValueError) as exc:  # UnknownStatusError is a ValueError
        fp_status = None
        problems.append(f"unmapped: {exc}")
        what = d.dispute_status if d.dispute_state in {"Disputed", "Chargeback"} else d.status
        entry = f"{what!r} (payment {pid})"
        if entry not in result.unmapped and len(result.unmapped) < LIST_LIMIT:
            result.unmapped.append(entry)
    material = _material(d, fp_status)
    changed = prev is None or material != prev.material
    version = 1 if prev is None else prev.version + (1 if changed else 0)
    order_id = prev.order_id if prev is not None else None
    if order_id is None:
        order_id = _resolve_order(conn, d)
    b = d.balances
    row: dict[str, Any] = {
        "payment_id": pid,
        "order_id": order_id,
        "reference": d.reference,
        "status": d.status,
        "dispute_id": d.dispute_id,
        "dispute_status": d.dispute_status,
        "dispute_state": d.dispute_state,
        "freshportal_status": fp_status,
        "currency": d.currency,
        "amount_minor": d.amount,
        **{f"{name}_minor": (getattr(b, name) if b is not None else None) for name in BALANCE_FIELDS},
        "version": version,
        "status_since": d.status_since,
        "derived_from_event_at": d.last_fact_at,
        "truth_fetched_at": truth_at,
        "problems": "; ".join(problems) or None,
        "events_applied": (prev.events_applied if prev else 0) + new_events,
        "state": state.to_json(),
        "source": "webhook+api" if state.truth is not None else "webhook",
    }
    return row, changed, order_id


def _resolve_order(conn: Connection, d: Derivation) -> str | None:
    """stg_orders by order number (= the payment's reference), else the link's metadata."""
    if d.reference:
        t = schema.stg_orders
        found = conn.execute(
            sa.select(sa.func.min(t.c.order_id)).where(t.c.order_number == d.reference)
        ).scalar()
        if found is not None:
            return str(found)
    return d.order_hint


def _log_declines(conn: Connection, declines: Iterable[DeclineRecord], ts: datetime) -> int:
    rows = [
        {
            "decline_id": d.decline_id,
            "payment_id": d.payment_id,
            "kind": d.kind,
            "event_id": d.event_id,
            "action_id": d.action_id,
            "response_code": d.response_code,
            "response_summary": d.response_summary,
            "amount_minor": d.amount_minor,
            "currency": d.currency,
            "occurred_at": d.occurred_at,
            "source": d.source,
        }
        for d in declines
    ]
    if not rows:
        return 0
    return upsert(conn, schema.ops_payment_declines, rows, ["decline_id"], now=ts).inserted


def _mark(conn: Connection, events: Sequence[_Event], ts: datetime, error: str | None) -> None:
    t = schema.raw_webhook_events
    ids = [e.event_id for e in events]
    for start in range(0, len(ids), 500):
        conn.execute(
            t.update()
            .where(t.c.event_id.in_(ids[start : start + 500]), t.c.processed_at.is_(None))
            .values(processed_at=ts, process_attempts=t.c.process_attempts + 1, last_error=error)
        )


def _mark_deferred(conn: Connection, ids: Sequence[str], reason: str) -> None:
    t = schema.raw_webhook_events
    conn.execute(
        t.update()
        .where(t.c.event_id.in_(list(ids)), t.c.processed_at.is_(None))
        .values(process_attempts=t.c.process_attempts + 1, last_error=reason[:500])
    )


def _make_poison(conn: Connection, poison: Sequence[tuple[str, str]]) -> None:
    t = schema.raw_webhook_events
    for event_id, reason in poison:
        conn.execute(
            t.update()
            .where(t.c.event_id == event_id, t.c.processed_at.is_(None))
            .values(
                is_poison=True,
                poison_reason=reason[:500],
                process_attempts=t.c.process_attempts + 1,
                last_error=reason[:500],
            )
        )


# ============================================================================ orders and outbox


def _payload_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """What FreshPortal should show for the order, from its governing payment. No PII."""
    captured = row["total_captured_minor"]
    refunded = row["total_refunded_minor"]
    since = row["status_since"]
    return {
        "status": row["freshportal_status"],
        "checkout_status": row["status"],
        "dispute_status": row["dispute_status"],
        "payment_id": row["payment_id"],
        "currency": row["currency"],
        "amount_paid_minor": captured,
        "amount_refunded_minor": refunded,
        "refund_state": refund_state(row["status"], refunded),
        "status_changed_at": format_ts(since) if since is not None else None,
    }


#: Payload keys that are informational: a difference in them alone is not worth a push.
_VOLATILE_KEYS = frozenset({"status_changed_at"})


def _material_payload(payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    return {k: v for k, v in payload.items() if k not in _VOLATILE_KEYS}


def refresh_outbox(conn: Connection, order_ids: Iterable[str], *, run_id: str | None, now: datetime) -> int:
    """For each order: pick the payment that speaks for it, and queue a write if that changed.

    The version is per order: one more than the highest of our outbox versions and the
    ``sequence`` FreshPortal reports holding (``stg_orders.payment_sequence``), so a rebuilt
    warehouse still writes above what FreshPortal has. Runs inside the caller's transaction.
    """
    ps, ob, orders = schema.stg_payment_status, schema.sync_status_outbox, schema.stg_orders
    added = 0
    for order_id in sorted(set(order_ids)):
        rows = [dict(r._mapping) for r in conn.execute(sa.select(ps).where(ps.c.order_id == order_id))]
        summaries = {
            r["payment_id"]: PaymentSummary(
                payment_id=r["payment_id"],
                status=r["status"],
                money_moved=bool(
                    (r["total_captured_minor"] or 0) > 0
                    or (r["total_refunded_minor"] or 0) > 0
                    or r["dispute_state"] is not None
                ),
                status_since=r["status_since"],
            )
            for r in rows
            if r["freshportal_status"] is not None
        }
        chosen = governing_payment(list(summaries.values()))
        if chosen is None:
            continue
        row = next(r for r in rows if r["payment_id"] == chosen.payment_id)
        payload = _payload_of(row)
        last = conn.execute(
            sa.select(ob.c.version, ob.c.payload)
            .where(ob.c.order_id == order_id)
            .order_by(ob.c.version.desc())
            .limit(1)
        ).first()
        if last is not None and _material_payload(last.payload) == _material_payload(payload):
            continue
        fp_seq = conn.execute(
            sa.select(orders.c.payment_sequence).where(orders.c.order_id == order_id)
        ).scalar()
        version = max(last.version if last is not None else 0, int(fp_seq or 0)) + 1
        conn.execute(
            ob.insert().values(
                order_id=order_id,
                version=version,
                payment_id=row["payment_id"],
                freshportal_status=payload["status"],
                checkout_status=row["status"],
                payload=payload,
                created_at=now,
                attempts=0,
                run_id=run_id,
            )
        )
        added += 1
    return added


def _resolve_late_orders(
    engine: Engine, result: ApplyResult, unresolved: set[str], run_id: str | None, now: Callable[[], datetime]
) -> None:
    """Payments whose order was not staged yet when their status was: find it now.

    The outbox waits for the order; this pass (one join on an indexed column) releases it as
    soon as the orders feed has staged the order.
    """
    ps, orders = schema.stg_payment_status, schema.stg_orders
    ts = now()
    with engine.begin() as conn:
        _lock(conn)
        found = conn.execute(
            sa.select(ps.c.payment_id, sa.func.min(orders.c.order_id))
            .join(orders, orders.c.order_number == ps.c.reference)
            .where(ps.c.order_id.is_(None))
            .group_by(ps.c.payment_id)
        ).all()
        for payment_id, order_id in found:
            conn.execute(
                ps.update().where(ps.c.payment_id == payment_id).values(order_id=order_id, updated_at=ts)
            )
            unresolved.discard(payment_id)
        if found:
            result.orders_resolved_late += len(found)
            result.outbox_rows += refresh_outbox(conn, {str(o) for _, o in found}, run_id=run_id, now=ts)
        result.unresolved_total = int(
            conn.execute(sa.select(sa.func.count()).select_from(ps).where(ps.c.order_id.is_(None))).scalar()
            or 0
        )
    result.unresolved_payments = len(unresolved)
    result.unresolved_sample = sorted(unresolved)[:LIST_LIMIT]
    if unresolved:
        log.info(
            "%d payment(s) of this run have no FreshPortal order yet; their status waits in the outbox",
            len(unresolved),
        )


def _surface_poison(engine: Engine, result: ApplyResult) -> None:
    t = schema.raw_webhook_events
    with engine.connect() as conn:
        result.poison_count = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t)
                .where(t.c.is_poison.is_(True), t.c.processed_at.is_(None))
            ).scalar()
            or 0
        )
        rows = conn.execute(
            sa.select(t.c.event_id, t.c.received_at, t.c.poison_reason)
            .where(t.c.is_poison.is_(True), t.c.processed_at.is_(None))
            .order_by(t.c.received_at)
            .limit(LIST_LIMIT)
        ).all()
    result.poison = [
        {"event_id": r.event_id, "received_at": format_ts(r.received_at), "reason": r.poison_reason}
        for r in rows
    ]
    if result.poison_count:
        log.warning(
            "%d poison event(s) are not applied (oldest: %s); see docs/status-machine.md",
            result.poison_count,
            result.poison[0]["event_id"] if result.poison else "?",
        )
