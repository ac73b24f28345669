"""Payments by search window: each window lands (raw, staged payments, their actions) and moves
the watermark in one transaction, so a run that dies between windows resumes where data stopped.

A payment that cannot be read is kept raw and quarantined in the transaction of its batch, so the
rest lands and the watermark moves past it; after its windows landed the step retries the
quarantined ones by id (quarantine.py), so a payment that keeps failing never blocks the search.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest.explain import actions_explain_balances, gateway_actions
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.sync.ingest.windows import Window, clamp_to_search_horizon, scheduled_start
from checkout_freshportal.timeutil import format_ts, utcnow
from checkout_freshportal.warehouse import mappers, schema
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.raw import insert_raw_objects
from checkout_freshportal.warehouse.upsert import upsert
from checkout_freshportal.warehouse.watermarks import set_watermark

log = logging.getLogger(__name__)

WM_PAYMENTS = "checkout.payments.requested_on"


def _stored_payment_state(conn: Connection, ids: Sequence[str]) -> dict[str, tuple]:
    """Balances and status as staged, to tell which searched payments changed."""
    t = schema.stg_payments
    cols = [t.c[name] for name in _STATE_COLUMNS if name in t.c]
    out: dict[str, tuple] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for row in conn.execute(sa.select(t.c.payment_id, *cols).where(t.c.payment_id.in_(chunk))):
            out[row[0]] = tuple(row[1:])
    return out


_STATE_COLUMNS = (
    "status",
    "total_authorized_minor",
    "total_captured_minor",
    "total_refunded_minor",
    "total_voided_minor",
)


def _state_of(row: Mapping[str, Any], stored: tuple | None = None) -> tuple:
    """The state ``row`` would leave staged: an unstated balance keeps the ``stored`` one
    (``schema.PRESERVE_NON_NULL``), so a search item without it is no change."""
    names = [name for name in _STATE_COLUMNS if name in schema.stg_payments.c]
    keep = schema.PRESERVE_NON_NULL.get("stg_payments", ())
    return tuple(
        stored[i] if stored is not None and name in keep and row.get(name) is None else row.get(name)
        for i, name in enumerate(names)
    )


def stage_payments(
    conn: Connection,
    payments: Sequence[Mapping[str, Any]],
    actions_by_payment: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    source: str,
    run_id: str | None,
    result: StepResult,
) -> None:
    """Land payments and their actions (raw + staged) inside the caller's transaction."""
    if not payments:
        return
    result.raw_added += insert_raw_objects(conn, source, payments, id_key="id", run_id=run_id)
    result.absorb(
        upsert(conn, schema.stg_payments, [mappers.payment_row(p) for p in payments], ["payment_id"])
    )
    action_rows: list[dict] = []
    currency_of = {p["id"]: p.get("currency") for p in payments}
    for payment_id, actions in actions_by_payment.items():
        gateway = gateway_actions(actions)
        if gateway:
            result.raw_added += insert_raw_objects(
                conn,
                "checkout.payment_actions",
                [{**a, "payment_id": payment_id} for a in gateway],
                run_id=run_id,
            )
            action_rows.extend(
                mappers.action_rows(payment_id, list(gateway), currency=currency_of.get(payment_id))
            )
    if action_rows:
        res = upsert(conn, schema.stg_payment_actions, action_rows, ["action_id"])
        result.details["actions_inserted"] = result.details.get("actions_inserted", 0) + res.inserted
        result.details["actions_updated"] = result.details.get("actions_updated", 0) + res.updated


def payments_window(engine: Engine, settings: IngestSettings, now: datetime) -> Window | None:
    """The window a scheduled run searches: watermark minus the re-walk, up to now minus settle,
    never further back than the search API reaches."""
    end = now - settings.settle
    start = max(
        scheduled_start(engine, WM_PAYMENTS, settings.rewalk, settings, now), now - settings.search_horizon
    )
    return Window(start, end) if end > start else None


def _actions_for(
    client: CheckoutReader,
    payments: Sequence[Mapping[str, Any]],
    stored: Mapping[str, tuple],
    result: StepResult,
    bad: list[tuple[Any, Exception]],
) -> dict[str, Sequence[Mapping[str, Any]]]:
    """Actions to stage for the payments that are new or whose balances/status changed.

    A payment that cannot be read here (mapping, explaining, its ``/actions``) goes to ``bad``
    instead, so it is quarantined and the others still land.
    """
    out: dict[str, Sequence[Mapping[str, Any]]] = {}
    for p in payments:
        try:
            before = stored.get(p["id"])
            if before is not None and before == _state_of(mappers.payment_row(p), before):
                continue
            if actions_explain_balances(p):
                out[p["id"]] = p["actions"]
            else:
                out[p["id"]] = client.get_payment_actions(p["id"])
                result.actions_fetched_for += 1
        except Exception as exc:
            if not q.is_item_error(exc):
                raise
            bad.append((p, exc))
    return out


def ingest_payments(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings | None = None,
    *,
    window: Window | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
) -> StepResult:
    """Search windows oldest first; each page lands on its own, the watermark with the window's last.

    Pages of one window come newest first, so the watermark can only move once the whole
    window has landed; a run that dies mid-window leaves the pages that landed (harmless,
    they merge again) and the watermark before that window (so the rerun searches it again).
    """
    settings = settings or IngestSettings()
    now = now or utcnow()
    backfill = window is not None
    result = StepResult("payments")
    if window is not None:
        window = clamp_to_search_horizon(window, settings, now, result)
    else:
        window = payments_window(engine, settings, now)
    quarantine = q.Quarantine.for_step(engine, result.quarantine, [q.SOURCE_PAYMENTS], settings, run_id)
    if window is not None:
        result.details["window"] = [format_ts(window.start), format_ts(window.end)]
        batch_size = settings.search_page_size
        for part in window.split(settings.search_window):
            batch: list[dict] = []
            pages = client.search_payments(part.start, part.end, limit=settings.search_page_size)
            for payment in pages:
                batch.append(payment)
                if len(batch) >= batch_size:
                    _land_payments(client, engine, batch, result, quarantine, run_id=run_id)
                    batch = []
            mark = None if backfill else format_ts(part.end)
            _land_payments(client, engine, batch, result, quarantine, run_id=run_id, watermark=mark)
            result.windows += 1
    # After the walk landed: a quarantined payment that keeps failing cannot hold back the search.
    retry_quarantined_payments(client, engine, quarantine, result, run_id=run_id)
    quarantine.finish()
    log.info(
        "payments: %d fetched in %d windows, %d new, %d changed, actions fetched for %d",
        result.fetched,
        result.windows,
        result.inserted,
        result.updated,
        result.actions_fetched_for,
    )
    return result


def _land_payments(
    client: CheckoutReader,
    engine: Engine,
    payments: Sequence[Any],
    result: StepResult,
    quarantine: q.Quarantine,
    *,
    run_id: str | None,
    watermark: str | None = None,
) -> None:
    """Land one batch and (with the window's last) the watermark; unreadable payments are
    quarantined in the same transaction, so the watermark moves past them."""
    result.fetched += len(payments)
    bad: list[tuple[Any, Exception]] = []
    named: list[Mapping[str, Any]] = []
    for p in payments:
        if isinstance(p, Mapping) and q.has_own_id(q.item_id_of(p)):
            named.append(p)
        else:
            bad.append((p, q.UnreadableItemError("payment without a usable id")))
    actions: dict[str, Sequence[Mapping[str, Any]]] = {}
    if named:
        with engine.connect() as conn:
            stored = _stored_payment_state(conn, [p["id"] for p in named])
        # API calls happen before the write transaction: no lock is held across the network.
        actions = _actions_for(client, named, stored, result, bad)
    if not payments and watermark is None:
        return
    unread = {id(p) for p, _ in bad}
    readable = [p for p in named if id(p) not in unread]
    with engine.begin() as conn:
        for p, exc in bad:
            quarantine.isolate_object(conn, q.SOURCE_PAYMENTS, p, exc)
        landed = q.stage_isolating(
            conn,
            readable,
            lambda part: _stage_scratch(conn, part, actions, result.step, run_id),
            result.add,
            lambda p, exc: quarantine.isolate_object(conn, q.SOURCE_PAYMENTS, p, exc),
        )
        quarantine.resolve(conn, q.SOURCE_PAYMENTS, [p["id"] for p in landed])
        if watermark is not None:
            set_watermark(conn, WM_PAYMENTS, watermark, run_id=run_id)
            result.watermark = watermark


def _stage_scratch(
    conn: Connection,
    payments: Sequence[Mapping[str, Any]],
    actions: Mapping[str, Sequence[Mapping[str, Any]]],
    step: str,
    run_id: str | None,
) -> StepResult:
    scratch = StepResult(step)
    mine = {p["id"]: actions[p["id"]] for p in payments if p["id"] in actions}
    stage_payments(conn, payments, mine, source=q.SOURCE_PAYMENTS, run_id=run_id, result=scratch)
    return scratch


def retry_quarantined_payments(
    client: CheckoutReader,
    engine: Engine,
    quarantine: q.Quarantine,
    result: StepResult,
    *,
    run_id: str | None,
) -> None:
    """Read the due quarantined payments again by id (``GET /payments/{id}`` and its actions),
    after the search landed, each on its own; one that still fails only adds an attempt, one
    the service fails this time is put off (quarantine.Quarantine.retry)."""
    fetched: dict[str, Any] = {}

    def attempt(item: store.QuarantineItem) -> None:
        if not q.has_own_id(item.item_id):
            raise q.UnreadableItemError("payment without a usable id: it cannot be read again")
        payment = fetched[item.item_id] = client.get_payment(item.item_id)
        actions = client.get_payment_actions(item.item_id)
        result.actions_fetched_for += 1
        with engine.begin() as conn:
            scratch = StepResult(result.step)
            stage_payments(
                conn,
                [payment],
                {item.item_id: actions},
                source=q.SOURCE_PAYMENTS,
                run_id=run_id,
                result=scratch,
            )
            quarantine.resolve(conn, q.SOURCE_PAYMENTS, [item.item_id])
        result.add(scratch)

    quarantine.retry(q.SOURCE_PAYMENTS, attempt, quarantine.raw_of_refetched(q.SOURCE_PAYMENTS, fetched))
