"""Report files (financial actions, payouts) by report creation time; a file already loaded is
neither downloaded nor loaded again, so the overlap before the watermark costs one listing.

A listing entry or a file that cannot be read is kept raw and quarantined, the other reports and
files load and the watermark moves past it; then quarantined ones are retried (quarantine.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.logsafe import safe
from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.sync.ingest.windows import Window, scheduled_start
from checkout_freshportal.timeutil import TimestampError, format_ts, parse_api_ts, utcnow
from checkout_freshportal.warehouse import quarantine as store
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.report_convert import TimeZones
from checkout_freshportal.warehouse.report_loader import load_report_file
from checkout_freshportal.warehouse.report_raw import store_raw_report_file
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
    quarantine = q.Quarantine.for_step(
        engine, result.quarantine, [q.SOURCE_REPORTS, q.SOURCE_REPORT_FILES], settings, run_id
    )
    reports = _readable_entries(
        engine, list(client.list_reports(window.start, window.end)), settings, quarantine
    )
    reports.sort(key=lambda r: (_created_on(r), r["id"]))
    result.fetched = len(reports)
    for report in reports:
        _load_files(client, engine, report, result, quarantine, run_id=run_id, zones=settings.time_zones())
        with engine.begin() as conn:
            quarantine.resolve(conn, q.SOURCE_REPORTS, [report["id"]])
            if not backfill:
                set_watermark(conn, WM_REPORTS, format_ts(_created_on(report)), run_id=run_id)
                result.watermark = format_ts(_created_on(report))
    # After the walk landed: a quarantined file whose download keeps failing holds nothing back.
    retry_quarantined_reports(client, engine, settings, quarantine, result, run_id=run_id)
    quarantine.finish()
    log.info(
        "reports: %d listed, %d files loaded (%d lines), %d skipped",
        result.fetched,
        result.files_loaded,
        result.details.get("rows", 0),
        result.files_skipped,
    )
    return result


def _check_entry(entry: Any, settings: IngestSettings) -> bool:
    """Whether a listing entry is wanted (a report type the warehouse stages); raises when it
    cannot be read: no id or type, no readable ``created_on``, a file without an id."""
    if not isinstance(entry, Mapping) or not q.has_own_id(q.item_id_of(entry)):
        raise q.UnreadableItemError("report listing entry without a usable id")
    if not isinstance(entry.get("type"), str) or not entry["type"]:
        raise q.UnreadableItemError(f"report {entry['id']} has no type")
    if entry["type"] not in settings.report_types:
        return False
    _created_on(entry)
    files = entry.get("files") or []
    if not isinstance(files, list):
        raise q.UnreadableItemError(f"report {entry['id']}: files is not a list")
    for f in files:
        if not isinstance(f, Mapping) or not q.has_own_id(q.item_id_of(f)):
            raise q.UnreadableItemError(f"report {entry['id']} lists a file without a usable id")
    return True


def _readable_entries(
    engine: Engine, entries: list[Any], settings: IngestSettings, quarantine: q.Quarantine
) -> list[Mapping[str, Any]]:
    """The wanted entries that can be read; the others are quarantined (stored verbatim in the
    quarantine row) in one transaction, before any file loads."""
    out: list[Mapping[str, Any]] = []
    bad: list[tuple[Any, Exception]] = []
    for entry in entries:
        try:
            if _check_entry(entry, settings):
                out.append(entry)
        except Exception as exc:
            if not q.is_item_error(exc):
                raise
            bad.append((entry, exc))
    if bad:
        with engine.begin() as conn:
            for entry, error in bad:
                _isolate_entry(conn, quarantine, entry, error)
    return out


def _isolate_entry(
    conn: Connection, quarantine: q.Quarantine, entry: Any, exc: Exception, *, retry: bool = False
) -> None:
    raw = (store.RAW_PAYLOAD, q.payload_digest(entry), entry)
    quarantine.isolate(conn, q.SOURCE_REPORTS, q.item_id_of(entry), exc, raw, retry=retry)


def _load_files(
    client: CheckoutReader,
    engine: Engine,
    report: Mapping[str, Any],
    result: StepResult,
    quarantine: q.Quarantine,
    *,
    run_id: str | None,
    zones: TimeZones,
) -> None:
    """Load one report's files not loaded yet, each in its own transaction (a crash keeps the
    rest); a file that cannot be loaded is quarantined and the others still load. A file already
    in the quarantine is left to the retry at the end of the step."""
    files = report.get("files") or []
    with engine.connect() as conn:
        done = _loaded_file_ids(conn, [f["id"] for f in files])
    for f in files:
        if f["id"] in done:
            result.files_skipped += 1
            continue
        if quarantine.is_open(q.SOURCE_REPORT_FILES, f["id"]):
            result.details["files_in_quarantine"] = result.details.get("files_in_quarantine", 0) + 1
            continue
        try:
            _load_file(client, engine, report, f, result, quarantine, zones)
        except Exception as exc:
            if not q.is_item_error(exc, download=True):
                raise
            _isolate_file(client, engine, quarantine, report, f, exc, run_id=run_id)


def _load_file(
    client: CheckoutReader,
    engine: Engine,
    report: Mapping[str, Any],
    f: Mapping[str, Any],
    result: StepResult,
    quarantine: q.Quarantine,
    zones: TimeZones,
) -> None:
    with client.open_report_file(report["id"], f["id"]) as stream, engine.begin() as conn:
        res = load_report_file(
            conn,
            report_id=report["id"],
            report_type=report["type"],
            file_id=f["id"],
            filename=f.get("filename") or f["id"],
            stream=stream,
            time_zones=zones,  # timestamps without an offset: the entity's settlement zone
        )
        quarantine.resolve(conn, q.SOURCE_REPORT_FILES, [f["id"]])
    if res.skipped_already_loaded:
        result.files_skipped += 1
        return
    result.files_loaded += 1
    result.details["rows"] = result.details.get("rows", 0) + res.rows
    result.inserted += res.staged_inserted
    result.updated += res.staged_updated
    result.unchanged += res.staged_unchanged


def _file_meta(report: Mapping[str, Any], f: Mapping[str, Any]) -> dict[str, Any]:
    """What a retry needs to load the file again (and an operator to find it)."""
    return {
        "report_id": report["id"],
        "report_type": report["type"],
        "filename": f.get("filename") or f["id"],
    }


def _isolate_file(
    client: CheckoutReader,
    engine: Engine,
    quarantine: q.Quarantine,
    report: Mapping[str, Any],
    f: Mapping[str, Any],
    exc: Exception,
    *,
    run_id: str | None,
    retry: bool = False,
) -> None:
    with engine.begin() as conn:
        raw = _keep_file(client, conn, report, f)
        quarantine.isolate(
            conn, q.SOURCE_REPORT_FILES, f["id"], exc, raw, parent_id=report["id"], retry=retry
        )


def _keep_file(
    client: CheckoutReader, conn: Connection, report: Mapping[str, Any], f: Mapping[str, Any]
) -> tuple[str, str | None, Any]:
    """Download the file again and store its bytes raw (compressed, unparsed); the failed load
    rolled back its own copy. If the download itself is refused, the listing's entry is all
    there is to keep."""
    meta = _file_meta(report, f)
    try:
        with client.open_report_file(report["id"], f["id"]) as stream:
            info = store_raw_report_file(conn, file_id=f["id"], stream=stream)
    except Exception as exc:
        if not q.is_item_error(exc, download=True):
            raise
        return store.RAW_PAYLOAD, None, {**meta, "download_error": q.reason_of(exc)}
    stored = {"size_bytes": info.size_bytes, "content_encoding": info.content_encoding}
    return store.RAW_REPORT_FILE, info.sha256, {**meta, **stored, "content_bytes": info.content_bytes}


def retry_quarantined_reports(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings,
    quarantine: q.Quarantine,
    result: StepResult,
    *,
    run_id: str | None,
) -> None:
    """Retry due listing entries (``GET /reports/{id}``, or the stored entry when it had no id)
    and due files (downloaded again by report and file id), each on its own."""
    fetched: dict[str, Any] = {}

    def entry_attempt(item: store.QuarantineItem) -> None:
        own = q.has_own_id(item.item_id)
        entry = fetched[item.item_id] = client.get_report(item.item_id) if own else item.payload
        if _check_entry(entry, settings):
            _load_files(client, engine, entry, result, quarantine, run_id=run_id, zones=settings.time_zones())
        with engine.begin() as conn:
            quarantine.resolve(conn, q.SOURCE_REPORTS, [item.item_id])

    def entry_raw(conn: Connection, item: store.QuarantineItem) -> tuple[str, str | None, Any]:
        entry = fetched.get(item.item_id, item.payload)
        return store.RAW_PAYLOAD, q.payload_digest(entry), entry

    def file_of(item: store.QuarantineItem) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = item.payload if isinstance(item.payload, Mapping) else {}
        report = {"id": item.parent_id or meta.get("report_id"), "type": meta.get("report_type")}
        return report, {"id": item.item_id, "filename": meta.get("filename")}

    def file_attempt(item: store.QuarantineItem) -> None:
        report, f = file_of(item)
        if not report["id"] or not report["type"]:
            raise q.UnreadableItemError(f"report file {item.item_id}: its report id or type is not known")
        _load_file(client, engine, report, f, result, quarantine, settings.time_zones())

    def file_raw(conn: Connection, item: store.QuarantineItem) -> tuple[str, str | None, Any]:
        report, f = file_of(item)
        if not report["id"] or not report["type"]:
            return item.raw_location, item.payload_sha256, item.payload
        return _keep_file(client, conn, report, f)

    quarantine.retry(q.SOURCE_REPORTS, entry_attempt, entry_raw)
    quarantine.retry(q.SOURCE_REPORT_FILES, file_attempt, file_raw, download=True)


def _created_on(report: Mapping[str, Any]) -> datetime:
    """A report's creation time, which the reports watermark follows; a report without one is
    unreadable, not "older than everything"."""
    created = parse_api_ts(report.get("created_on"))  # no offset = UTC, as API times are
    if created is None:
        raise TimestampError(f"report {safe(report.get('id'))} has no created_on")
    return created
