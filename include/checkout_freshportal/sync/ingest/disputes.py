"""Disputes by ``last_update``, read again with an overlap before the watermark (a dispute
changes long after its payment, so creation time cannot bound it)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.sync.ingest.windows import Window, scheduled_start
from checkout_freshportal.timeutil import format_ts, utcnow
from checkout_freshportal.warehouse import mappers, schema
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
    disputes = list(client.list_disputes(from_=window.start, to=window.end))
    result.fetched = len(disputes)
    with engine.begin() as conn:
        if disputes:
            result.raw_added += insert_raw_objects(conn, "checkout.disputes", disputes, run_id=run_id)
            result.absorb(
                upsert(conn, schema.stg_disputes, [mappers.dispute_row(d) for d in disputes], ["dispute_id"])
            )
        if not backfill:
            set_watermark(conn, WM_DISPUTES, format_ts(window.end), run_id=run_id)
            result.watermark = format_ts(window.end)
    log.info("disputes: %d fetched, %d new, %d changed", result.fetched, result.inserted, result.updated)
    return result
