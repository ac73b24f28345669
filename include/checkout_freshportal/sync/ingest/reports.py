"""Report files (financial actions, payouts) by report creation time; a file already loaded is
neither downloaded nor loaded again, so the overlap before the watermark costs one listing."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.sync.ingest.windows import Window, scheduled_start
from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts, utcnow
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.report_loader import load_report_file
from checkout_freshportal.warehouse.watermarks import set_watermark

log = logging.getLogger(__name__)

WM_REPORTS = "checkout.reports.created_on"


def _loaded_file_ids(conn: Connection, file_ids: Sequence[str]) -> set[str]:
    if not file_ids:
        return set()
    t = schema.raw_report_files
    return {r[0] for r in conn.execute(sa.select(t.c.file_id).where(t.c.file_id.in_(list(file_ids))))}


def ingest_reports(
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
    result = StepResult("reports")
    backfill = window is not None
    if window is None:
        window = Window(scheduled_start(engine, WM_REPORTS, settings.reports_overlap, settings, now), now)
    reports = [
        r for r in client.list_reports(window.start, window.end) if r.get("type") in settings.report_types
    ]
    reports.sort(key=lambda r: (parse_ts(r["created_on"]), r["id"]))
    result.fetched = len(reports)
    for report in reports:
        _load_files(client, engine, report, result)
        if not backfill:
            with engine.begin() as conn:
                set_watermark(conn, WM_REPORTS, format_ts(_created_on(report)), run_id=run_id)
            result.watermark = format_ts(_created_on(report))
    log.info(
        "reports: %d listed, %d files loaded (%d lines), %d skipped",
        result.fetched,
        result.files_loaded,
        result.details.get("rows", 0),
        result.files_skipped,
    )
    return result


def _load_files(
    client: CheckoutReader, engine: Engine, report: Mapping[str, Any], result: StepResult
) -> None:
    """Load one report's files not loaded yet, each in its own transaction (a crash keeps the rest)."""
    files = report.get("files") or []
    with engine.connect() as conn:
        done = _loaded_file_ids(conn, [f["id"] for f in files])
    for f in files:
        if f["id"] in done:
            result.files_skipped += 1
            continue
        with client.open_report_file(report["id"], f["id"]) as stream, engine.begin() as conn:
            res = load_report_file(
                conn,
                report_id=report["id"],
                report_type=report["type"],
                file_id=f["id"],
                filename=f.get("filename") or f["id"],
                stream=stream,
            )
        if res.skipped_already_loaded:
            result.files_skipped += 1
            continue
        result.files_loaded += 1
        result.details["rows"] = result.details.get("rows", 0) + res.rows
        result.inserted += res.staged_inserted
        result.updated += res.staged_updated
        result.unchanged += res.staged_unchanged


def _created_on(report: Mapping[str, Any]) -> datetime:
    """A report's creation time, which the reports watermark follows; a report without one is
    unreadable, not "older than everything"."""
    created = parse_ts(report.get("created_on"))
    if created is None:
        raise TimestampError(f"report {report.get('id')!r} has no created_on")
    return created
