"""Incremental ingestion of Checkout.com data into the warehouse.

Four steps, each safe to repeat and to interrupt at any point:

* ``ingest_payments``: search windows from the watermark minus a bounded re-walk up to now minus
  a settle margin; each window lands (raw, staged payments, their actions) and moves the
  watermark in one transaction, so a run that dies between windows resumes where data stopped.
* ``ingest_disputes``: disputes by ``last_update``, with an overlap before the watermark.
* ``ingest_reports``: report files (financial actions, payouts) by report creation time; a file
  already loaded is neither downloaded nor loaded again.
* ``refresh_referenced_payments``: payments that newly staged financial actions or disputes refer
  to but that ``stg_payments``/``stg_payment_actions`` do not explain yet (a refund on a
  month-old payment, a chargeback) are read one by one. This closes the gap a creation-time
  search leaves for changes to payments older than the re-walk.

Backfills pass an explicit ``window``; they re-walk it idempotently and never move watermarks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.checkout import statuses
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts, utcnow
from checkout_freshportal.warehouse import mappers, schema
from checkout_freshportal.warehouse.raw import insert_raw_objects
from checkout_freshportal.warehouse.report_loader import load_report_file
from checkout_freshportal.warehouse.upsert import upsert
from checkout_freshportal.warehouse.watermarks import get_watermark, set_watermark

log = logging.getLogger(__name__)

WM_PAYMENTS = "checkout.payments.requested_on"
WM_DISPUTES = "checkout.disputes.last_update"
WM_REPORTS = "checkout.reports.created_on"
WM_REFRESH = "checkout.refresh.first_seen_at"

#: Gateway action types that move a payment's balances (search also returns pseudo-actions
#: such as ``Dispute`` and ``Authentication``, which are not staged as payment actions).
GATEWAY_ACTION_TYPES = statuses.GATEWAY_ACTION_TYPES
_BALANCE_OF_TYPE = statuses.BALANCE_OF_ACTION_TYPE


class CheckoutReader(Protocol):
    """The part of ``CheckoutClient`` ingestion uses (kept narrow so the use case stays testable)."""

    def search_payments(
        self, from_: datetime, to: datetime, query: str = ..., limit: int = ...
    ) -> Iterable[dict]: ...
    def get_payment(self, payment_id: str) -> dict: ...
    def get_payment_actions(self, payment_id: str) -> list[dict]: ...
    def list_disputes(
        self, from_: datetime | None = ..., to: datetime | None = ..., **kw: Any
    ) -> Iterable[dict]: ...
    def list_reports(
        self, created_after: datetime, created_before: datetime | None = ...
    ) -> Iterable[dict]: ...
    def open_report_file(self, report_id: str, file_id: str) -> Any: ...


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} >= {self.end.isoformat()}")

    @classmethod
    def parse(cls, start: str | datetime, end: str | datetime) -> Window:
        s, e = parse_ts(start, assume_utc=True), parse_ts(end, assume_utc=True)
        if s is None or e is None:
            raise ValueError("backfill needs both 'from' and 'to'")
        return cls(s, e)

    def split(self, width: timedelta) -> list[Window]:
        out, cur = [], self.start
        while cur < self.end:
            nxt = min(cur + width, self.end)
            out.append(Window(cur, nxt))
            cur = nxt
        return out


@dataclass
class StepResult:
    step: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    raw_added: int = 0
    windows: int = 0
    actions_fetched_for: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    watermark: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def absorb(self, res: Any) -> None:
        self.inserted += res.inserted
        self.updated += res.updated
        self.unchanged += res.unchanged

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# payments


def actions_explain_balances(payment: Mapping[str, Any]) -> bool:
    """True when the payment's embedded actions carry amounts that add up to its balances.

    Then the actions can be staged from the search result without another call; otherwise
    (summary-only actions, or actions that contradict the balances) we ask ``/actions``.
    """
    actions = payment.get("actions")
    balances = payment.get("balances") or {}
    if not isinstance(actions, list):
        return False
    sums = dict.fromkeys(_BALANCE_OF_TYPE.values(), 0)
    for act in actions:
        kind = act.get("type")
        if kind not in GATEWAY_ACTION_TYPES:
            continue
        if "amount" not in act or "processed_on" not in act:
            return False
        if act.get("approved") is False:
            continue
        col = _BALANCE_OF_TYPE.get(kind)
        if col:
            sums[col] += int(act["amount"])
    return all(int(balances.get(col) or 0) == total for col, total in sums.items())


def _gateway_actions(actions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [a for a in actions if a.get("type") in GATEWAY_ACTION_TYPES]


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


def _state_of(row: Mapping[str, Any]) -> tuple:
    return tuple(row.get(name) for name in _STATE_COLUMNS if name in schema.stg_payments.c)


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
        gateway = _gateway_actions(actions)
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


def clamp_to_search_horizon(
    window: Window, settings: IngestSettings, now: datetime, result: StepResult
) -> Window | None:
    """A backfill can only search what the search API still reaches (about 90 days) and the past.

    The part outside is reported in the step's result, not silently dropped.
    """
    start = max(window.start, now - settings.search_horizon)
    end = min(window.end, now)
    if start != window.start or end != window.end:
        result.details["clamped_from"] = [format_ts(window.start), format_ts(window.end)]
        log.warning(
            "payments backfill %s..%s clamped to the search horizon %s..%s; older payments are only "
            "reachable one by one (refresh_referenced_payments) or through report files",
            window.start,
            window.end,
            start,
            end,
        )
    return Window(start, end) if end > start else None


def scheduled_start(
    engine: Engine, mark_name: str, overlap: timedelta, settings: IngestSettings, now: datetime
) -> datetime:
    """Where a scheduled run starts reading a source: its watermark minus ``overlap``, or the
    initial lookback when there is none yet. One rule for every source, so none drifts."""
    with engine.connect() as conn:
        mark = get_watermark(conn, mark_name)
    start = parse_ts(mark)
    return start - overlap if start is not None else now - settings.initial_lookback


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
) -> dict[str, Sequence[Mapping[str, Any]]]:
    """Actions to stage for the payments that are new or whose balances/status changed."""
    out: dict[str, Sequence[Mapping[str, Any]]] = {}
    for p in payments:
        if stored.get(p["id"]) == _state_of(mappers.payment_row(p)):
            continue
        if actions_explain_balances(p):
            out[p["id"]] = p["actions"]
        else:
            out[p["id"]] = client.get_payment_actions(p["id"])
            result.actions_fetched_for += 1
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
    if window is None:
        return result
    result.details["window"] = [format_ts(window.start), format_ts(window.end)]
    batch_size = settings.search_page_size
    for part in window.split(settings.search_window):
        batch: list[dict] = []
        pages = client.search_payments(part.start, part.end, limit=settings.search_page_size)
        for payment in pages:
            batch.append(payment)
            if len(batch) >= batch_size:
                _land_payments(client, engine, batch, result, run_id=run_id)
                batch = []
        _land_payments(
            client, engine, batch, result, run_id=run_id, watermark=None if backfill else format_ts(part.end)
        )
        result.windows += 1
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
    payments: Sequence[Mapping[str, Any]],
    result: StepResult,
    *,
    run_id: str | None,
    watermark: str | None = None,
) -> None:
    result.fetched += len(payments)
    if payments:
        with engine.connect() as conn:
            stored = _stored_payment_state(conn, [p["id"] for p in payments])
        # API calls happen before the write transaction: no lock is held across the network.
        actions = _actions_for(client, payments, stored, result)
    else:
        actions = {}
    if not payments and watermark is None:
        return
    with engine.begin() as conn:
        stage_payments(conn, payments, actions, source="checkout.payments", run_id=run_id, result=result)
        if watermark is not None:
            set_watermark(conn, WM_PAYMENTS, watermark, run_id=run_id)
            result.watermark = watermark


# --------------------------------------------------------------------------------------------
# disputes


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


# --------------------------------------------------------------------------------------------
# reports


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


# --------------------------------------------------------------------------------------------
# payments referenced by financial actions and disputes


def _created_on(report: Mapping[str, Any]) -> datetime:
    """A report's creation time, which the reports watermark follows; a report without one is
    unreadable, not "older than everything"."""
    created = parse_ts(report.get("created_on"))
    if created is None:
        raise TimestampError(f"report {report.get('id')!r} has no created_on")
    return created


def referenced_payment_ids(
    conn: Connection, since: datetime | None, limit: int
) -> tuple[list[str], datetime | None]:
    """Payments that staged money movements refer to but staged payments do not explain.

    Returns the ids (oldest evidence first) and the newest ``first_seen_at`` considered, which
    becomes the refresh watermark once those payments have landed.
    """
    fa, pa, pay, dsp = (
        schema.stg_financial_actions,
        schema.stg_payment_actions,
        schema.stg_payments,
        schema.stg_disputes,
    )
    missing_action = (
        sa.select(fa.c.payment_id.label("payment_id"), sa.func.min(fa.c.first_seen_at).label("seen"))
        .select_from(fa.outerjoin(pa, pa.c.action_id == fa.c.action_id))
        .where(
            fa.c.payment_id.is_not(None),
            pa.c.action_id.is_(None),
            fa.c.action_type.in_(sorted(_BALANCE_OF_TYPE)),
        )
        .group_by(fa.c.payment_id)
    )
    missing_payment = (
        sa.select(dsp.c.payment_id.label("payment_id"), sa.func.min(dsp.c.first_seen_at).label("seen"))
        .select_from(dsp.outerjoin(pay, pay.c.payment_id == dsp.c.payment_id))
        .where(dsp.c.payment_id.is_not(None), pay.c.payment_id.is_(None))
        .group_by(dsp.c.payment_id)
    )
    union = sa.union_all(missing_action, missing_payment).subquery()
    query = sa.select(union.c.payment_id, sa.func.min(union.c.seen).label("seen")).group_by(
        union.c.payment_id
    )
    if since is not None:
        query = query.having(sa.func.max(union.c.seen) > since)
    query = query.order_by(sa.text("seen"), union.c.payment_id).limit(limit)
    rows = conn.execute(query).all()
    seen = (parse_ts(r.seen, assume_utc=True) for r in rows)
    newest = max((t for t in seen if t is not None), default=None)
    return [r.payment_id for r in rows], newest


def refresh_referenced_payments(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings | None = None,
    *,
    run_id: str | None = None,
) -> StepResult:
    from checkout_freshportal.checkout.errors import NotFoundError

    settings = settings or IngestSettings()
    result = StepResult("refresh")
    with engine.connect() as conn:
        mark = get_watermark(conn, WM_REFRESH)
        ids, newest = referenced_payment_ids(
            conn, parse_ts(mark) if mark else None, settings.max_refresh_per_run
        )
    not_found: list[str] = []
    for payment_id in ids:
        try:
            payment = client.get_payment(payment_id)
        except NotFoundError:
            not_found.append(payment_id)  # e.g. outside the sandbox's retention; reported, not hidden
            continue
        actions = client.get_payment_actions(payment_id)
        result.fetched += 1
        result.actions_fetched_for += 1
        with engine.begin() as conn:
            stage_payments(
                conn,
                [payment],
                {payment_id: actions},
                source="checkout.payments",
                run_id=run_id,
                result=result,
            )
    if newest is not None and len(ids) < settings.max_refresh_per_run:
        with engine.begin() as conn:
            set_watermark(conn, WM_REFRESH, format_ts(newest), run_id=run_id)
        result.watermark = format_ts(newest)
    if not_found:
        result.details["not_found"] = not_found[:50]
        log.warning("refresh: %d referenced payments not found at Checkout.com", len(not_found))
    log.info("refresh: %d referenced payments re-read", result.fetched)
    return result


def run_all(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings | None = None,
    *,
    window: Window | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every step in dependency order, for the CLI and tests (the DAG runs them as tasks)."""
    now = now or utcnow()
    out = {}
    for step in (ingest_payments, ingest_disputes, ingest_reports):
        out[step.__name__] = step(client, engine, settings, window=window, now=now, run_id=run_id).as_dict()
    out["refresh_referenced_payments"] = refresh_referenced_payments(
        client, engine, settings, run_id=run_id
    ).as_dict()
    return out
