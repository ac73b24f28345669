"""Disputes by ``last_update``, read again with an overlap before the watermark (a dispute
changes long after its payment, so creation time cannot bound it). An unreadable dispute is kept
raw and quarantined, the rest lands; then quarantined ones are retried by id (quarantine.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.sync.ingest.windows import Window, scheduled_start
from checkout_freshportal.timeutil import format_ts, utcnow
from checkout_freshportal.warehouse import mappers, schema
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse.raw import insert_raw_objects
from checkout_freshportal.warehouse.upsert import upsert
from checkout_freshportal.warehouse.watermarks import set_watermark

log = logging.getLogger(__name__)

WM_DISPUTES = "checkout.disputes.last_update"


def ingest_disputes(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings | None = None,
    *,
    window: Window | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
) -> StepResult:
    settings = settings or IngestSettings()
    now = now or utcnow()
    result = StepResult("disputes")
    backfill = window is not None
    if window is None:
        start = scheduled_start(engine, WM_DISPUTES, settings.disputes_overlap, settings, now)
        window = Window(start, now - settings.settle)
    quarantine = q.Quarantine.for_step(engine, result.quarantine, [q.SOURCE_DISPUTES], settings, run_id)
    disputes = list(client.list_disputes(from_=window.start, to=window.end))
    result.fetched = len(disputes)
    with engine.begin() as conn:
        readable = []
        for d in disputes:
            if isinstance(d, Mapping) and q.has_own_id(q.item_id_of(d)):
                readable.append(d)
            else:
                quarantine.isolate_object(
                    conn, q.SOURCE_DISPUTES, d, q.UnreadableItemError("dispute without a usable id")
                )
        landed = q.stage_isolating(
            conn,
            readable,
            lambda part: _stage(conn, part, run_id),
            result.add,
            lambda d, exc: quarantine.isolate_object(conn, q.SOURCE_DISPUTES, d, exc),
        )
        quarantine.resolve(conn, q.SOURCE_DISPUTES, [d["id"] for d in landed])
        if not backfill:
            set_watermark(conn, WM_DISPUTES, format_ts(window.end), run_id=run_id)
            result.watermark = format_ts(window.end)
    # After the walk landed: a quarantined dispute that keeps failing cannot hold back the rest.
    _retry_quarantined(client, engine, quarantine, result, run_id=run_id)
    quarantine.finish()
    log.info("disputes: %d fetched, %d new, %d changed", result.fetched, result.inserted, result.updated)
    return result


def _stage(conn: Connection, disputes: Sequence[Mapping[str, Any]], run_id: str | None) -> StepResult:
    """Raw and staged rows of ``disputes``, counted in a scratch result (merged once they landed)."""
    scratch = StepResult("disputes")
    scratch.raw_added += insert_raw_objects(conn, q.SOURCE_DISPUTES, disputes, run_id=run_id)
    scratch.absorb(
        upsert(conn, schema.stg_disputes, [mappers.dispute_row(d) for d in disputes], ["dispute_id"])
    )
    return scratch


def _retry_quarantined(
    client: CheckoutReader,
    engine: Engine,
    quarantine: q.Quarantine,
    result: StepResult,
    *,
    run_id: str | None,
) -> None:
    """Read the due quarantined disputes again by id (``GET /disputes/{id}``), each on its own."""
    fetched: dict[str, Any] = {}

    def attempt(item: store.QuarantineItem) -> None:
        if not q.has_own_id(item.item_id):
            raise q.UnreadableItemError("dispute without a usable id: it cannot be read again")
        dispute = fetched[item.item_id] = client.get_dispute(item.item_id)
        with engine.begin() as conn:
            scratch = _stage(conn, [dispute], run_id)
            quarantine.resolve(conn, q.SOURCE_DISPUTES, [item.item_id])
        result.add(scratch)

    quarantine.retry(q.SOURCE_DISPUTES, attempt, quarantine.raw_of_refetched(q.SOURCE_DISPUTES, fetched))
