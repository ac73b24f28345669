"""``render_report``: the finance report of one reconciliation run, as files.

Writes ``<out_root>/<YYYY-MM-DD>/<HHMMSS>Z-<run>/`` (report.html, exceptions.csv, matches.csv,
payouts.csv, report.xlsx) and points ``<out_root>/latest`` at it. Both steps are atomic: the
folder is written under a temporary name and renamed into place, and ``latest`` is a relative
symbolic link replaced with one ``rename`` (where symbolic links are not available it is a copy,
swapped by two renames). A reader (the Airflow UI plugin, a person) therefore sees the previous
complete report or the new complete one, never a half-written one.

The figures are "as of" ``as_of`` when given, else the run's own ``as_of`` (so ages and
"not yet paid out" match what that run saw), else now.

A run that did not complete (the DAG's ``reconcile`` failed, before or after writing its
``recon_runs`` row) still gets a report when asked with ``fallback=True`` (the DAG does): the
figures of the newest succeeded run, under a banner that says so, or the empty report with that
banner before any run. A finance team then sees "this run failed" in the one place it looks,
not a stale ``latest`` that silently stayed put. Without ``fallback`` (``cfp report --run-id``)
an unknown run id raises :class:`LookupError`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.logsafe import mask_text, safe
from checkout_freshportal.reconcile.fees import CATEGORIES, ENTITY_CATEGORIES, FEE_CATEGORIES
from checkout_freshportal.reconcile.kinds import KINDS
from checkout_freshportal.reports import charts, queries, queries_money, queries_rows
from checkout_freshportal.reports.exports import exports, write_csv, write_xlsx
from checkout_freshportal.reports.html import render_html
from checkout_freshportal.reports.settings import ReportSettings
from checkout_freshportal.reports.sqlparts import BUCKET_LABELS
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.schema import recon_runs

log = logging.getLogger(__name__)

LATEST = "latest"
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ReportPaths:
    directory: Path
    html: Path
    exceptions_csv: Path
    matches_csv: Path
    payouts_csv: Path
    xlsx: Path
    latest: Path
    run_id: str | None  # the run whose figures are shown (the fallback run, see ``banner``)
    as_of: datetime
    rows: dict[str, int]
    banner: str | None = None  # set when the requested run did not complete

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "html": str(self.html),
            "exceptions_csv": str(self.exceptions_csv),
            "matches_csv": str(self.matches_csv),
            "payouts_csv": str(self.payouts_csv),
            "xlsx": str(self.xlsx),
            "latest": str(self.latest),
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "rows": dict(self.rows),
            "banner": self.banner,
        }


def slug(run_id: str | None) -> str:
    """A run id made safe as a folder name (ids come from DAG run ids: ``scheduled__2026-...``)."""
    text = _SLUG.sub("-", run_id or "no-run").strip("-.") or "run"
    return text[:60]


def render_report(
    engine: Engine,
    out_root: Path,
    *,
    as_of: datetime | None = None,
    run_id: str | None = None,
    settings: ReportSettings | None = None,
    fallback: bool = False,
) -> ReportPaths:
    """Render the report of run ``run_id`` (default: the newest succeeded run) into ``out_root``.

    ``fallback``: when run ``run_id`` is unknown or did not succeed, show the newest succeeded
    run at or before ``as_of`` (with its own ``as_of``) under a banner instead of raising.
    """
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("render_report: as_of must be timezone-aware (UTC)")
    settings = settings or ReportSettings()
    out_root = Path(out_root)
    with engine.connect() as conn:
        run, banner, dq_run, as_of = _pick_run(conn, as_of, run_id, fallback)
        at = as_of or (run.as_of if run else utcnow())
        context = _context(conn, engine, at, run, settings)
        context["banner"] = banner
        context["dq"] = queries.dq_results(conn, dq_run)  # this run's checks, even if it failed
    # The folder is named after the run asked for: a fallback never replaces the other's report.
    name = run_id if banner else (run.run_id if run else None)
    final = out_root / at.strftime("%Y-%m-%d") / f"{at.strftime('%H%M%S')}Z-{slug(name)}"
    rows = _write_folder(engine, out_root, final, at, context)
    latest = _point_latest(out_root, final)
    _prune(out_root, final, at, settings.keep_days)
    if banner is not None:
        log.warning("report of an incomplete run: %s", safe(banner, 300))
    if run is not None and banner is None:  # the run's row says where its report is (the runbook)
        with engine.begin() as conn:
            conn.execute(
                sa.update(recon_runs).where(recon_runs.c.run_id == run.run_id).values(report_path=str(final))
            )
    log.info("report written to %s (%s)", safe(str(final), 200), rows)
    return ReportPaths(
        directory=final,
        html=final / "report.html",
        exceptions_csv=final / "exceptions.csv",
        matches_csv=final / "matches.csv",
        payouts_csv=final / "payouts.csv",
        xlsx=final / "report.xlsx",
        latest=latest,
        run_id=run.run_id if run else None,
        as_of=at,
        rows=rows,
        banner=banner,
    )


def _pick_run(
    conn: Connection, as_of: datetime | None, run_id: str | None, fallback: bool
) -> tuple[queries.RunInfo | None, str | None, queries.RunInfo | None, datetime | None]:
    """The run to show, the banner over it, the run whose checks to show, and the ``as_of``.

    A fallback shows the newest succeeded run with that run's own ``as_of`` (its figures as it saw
    them), while the data-quality section still shows the checks of the run that was asked for.
    """
    run = queries.latest_run(conn, as_of, run_id)
    banner, dq_run = None, run
    if run_id is not None and fallback and (run is None or run.status != "succeeded"):
        run = queries.latest_run(conn, as_of)
        banner = incomplete_banner(run_id, run)
        as_of = run.as_of if run else as_of  # the figures of that run, as that run saw them
        dq_run = dq_run or queries.RunInfo(run_id, as_of or utcnow(), "", "failed", None, None)
    elif run_id is not None and run is None:
        raise LookupError(f"no reconciliation run {safe(run_id)}")
    return run, banner, dq_run, as_of


def _write_folder(
    engine: Engine, out_root: Path, final: Path, at: datetime, context: dict[str, Any]
) -> dict[str, int]:
    """Write the files into a temporary folder and publish it as ``final``: a reader never sees a
    half-written report, and a failure leaves nothing behind."""
    tmp = out_root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    try:
        rows = _write_files(engine, tmp, at, context)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def incomplete_banner(run_id: str, fallback: queries.RunInfo | None) -> str:
    """What the report says on top when the run it was asked for did not complete."""
    if fallback is None:
        return f"reconciliation run {run_id} did not complete: no completed run yet, so no figures"
    return (
        f"reconciliation run {run_id} did not complete: figures are from run {fallback.run_id} "
        f"(as of {fallback.as_of.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
    )


FILES = ("report.html", "exceptions.csv", "matches.csv", "payouts.csv", "report.xlsx")


def _write_files(engine: Engine, folder: Path, at: datetime, context: dict[str, Any]) -> dict[str, int]:
    all_exports = exports(engine, at, queries.category_order())
    rows = {e.name: write_csv(e, folder / f"{e.name}.csv") for e in all_exports}
    write_xlsx(all_exports, folder / "report.xlsx")
    (folder / "report.html").write_text(render_html(context), encoding="utf-8")
    return rows


def _context(
    conn: Connection, engine: Engine, at: datetime, run: queries.RunInfo | None, s: ReportSettings
) -> dict[str, Any]:
    """Everything the template shows (small, aggregated rows; no table is read whole)."""
    heads = queries.headlines(conn, at, run)
    history = queries.match_rate_history(conn, at, s.history_days)
    kinds = queries.exceptions_by_kind(conn, at)
    payouts = queries_money.payouts(conn, at, s.payouts_shown)
    cash = queries_money.cash_position(conn, at)
    declines = queries_money.declines(conn, at, s.decline_days)
    declines.by_code = [(c, mask_text(summary), n) for c, summary, n in declines.by_code]
    exc = list(queries_rows.iter_exceptions(conn, at, ("open", "explained"), s.exceptions_shown))
    used = [c for c in queries.category_order() if any(p.by_category.get(c) for p in payouts)]
    payout_ccys = sorted({p.currency for p in payouts})
    traces, missing = _traces(engine, queries.open_exception_orders(conn, s.trace_orders))
    return {
        "as_of": at,
        "generated_at": utcnow(),
        "run": run,
        "files": FILES[1:],
        "headlines": heads,
        "fee_categories": [
            c
            for c in queries.category_order()
            if (c in FEE_CATEGORIES or c == queries.PAYOUT_FEE) and any(c in h.fees_minor for h in heads)
        ],
        "movement_categories": [c for c in CATEGORIES if any(c in h.movements_minor for h in heads)],
        "entity_categories": ENTITY_CATEGORIES,
        "history": history,
        "history_days": s.history_days,
        "kinds": kinds,
        "meanings": {k: v.meaning for k, v in KINDS.items()},
        "buckets": BUCKET_LABELS,
        "exceptions": exc,
        "exceptions_shown": s.exceptions_shown,
        "payouts": payouts,
        "payouts_shown": s.payouts_shown,
        "payout_categories": used,
        "cash": cash,
        "declines": declines,
        "dq": queries.dq_results(conn, run),
        "banner": None,
        "traces": traces,
        "missing_traces": missing,
        "trace_orders": s.trace_orders,
        "charts": {
            "match_rate": charts.match_rate_chart(history),
            "exceptions": charts.exceptions_chart(kinds),
            "payouts": [(c, charts.payouts_chart(payouts, c, queries.category_order())) for c in payout_ccys],
            "cash": charts.cash_chart(cash),
            "declines": charts.declines_chart(declines),
        },
    }


def _traces(engine: Engine, order_numbers: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The money chain of each order (reports/trace.py), free text masked once more."""
    from checkout_freshportal.reports.trace import trace_order

    found, missing = [], []
    for number in order_numbers:
        trace = trace_order(engine, number)
        if trace is None:
            missing.append(number)
            continue
        data = trace.to_dict()
        for ex in data.get("exceptions", []):
            for key in ("detail", "explanation"):
                if ex.get(key):
                    ex[key] = mask_text(str(ex[key]))
        found.append(data)
    return found, missing


_DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")


def _prune(out_root: Path, current: Path, at: datetime, keep_days: int) -> None:
    """Delete dated folders older than ``keep_days`` before ``at`` (retention; after a success).

    Only ``YYYY-MM-DD`` folders are candidates (never ``latest``, temporaries or anything a
    person put there), never the one holding the report just written nor the one ``latest``
    points at; a folder that cannot be removed is logged and left for the next run.
    """
    cutoff = (at - timedelta(days=keep_days)).date()
    keep = {current.parent.resolve(), (out_root / LATEST).resolve().parent}
    for folder in sorted(out_root.iterdir()):
        if not (_DAY_FOLDER.fullmatch(folder.name) and folder.is_dir()) or folder.is_symlink():
            continue
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if day >= cutoff or folder.resolve() in keep:
            continue
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            log.warning("old report folder %s not removed: %s", safe(folder.name), type(exc).__name__)
            continue
        log.info("old report folder %s removed (keep_days=%d)", safe(folder.name), keep_days)


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished folder into place; a report of the same run and time is replaced."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".old-{uuid.uuid4().hex}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _point_latest(out_root: Path, final: Path) -> Path:
    """Make ``out_root/latest`` the new report: a relative symlink swapped by one rename."""
    latest = out_root / LATEST
    target = os.path.relpath(final, out_root)
    link = out_root / f".latest-{uuid.uuid4().hex}"
    try:
        link.symlink_to(target, target_is_directory=True)
    except OSError:  # no symlinks here (some mounts): a copy, swapped by two renames
        copy = out_root / f".latest-copy-{uuid.uuid4().hex}"
        shutil.copytree(final, copy)
        if latest.is_symlink():
            latest.unlink()
        _publish(copy, latest)
        return latest
    if latest.exists() and not latest.is_symlink():
        shutil.rmtree(latest)  # a copy left by a filesystem without symlinks before
    os.replace(link, latest)
    return latest
