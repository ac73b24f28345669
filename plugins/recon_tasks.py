"""Task bodies of ``reconciliation``: build the engine (and the FreshPortal client for notes) from
Connections, call the library, return its counts (XCom).

Kept outside the DAG file so the DAG stays orchestration only and parsing imports nothing heavy
(Great Expectations alone costs seconds). Every step measures due times at the same instant: the
``as_of`` the ``reconcile`` step wrote in ``recon_runs`` for this run, or now if that step failed
before writing it. Connections: ``cfp_warehouse`` (WarehouseHook; without it CFP_WAREHOUSE_URL)
and ``freshportal_default`` (notes only).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)


def _settings(params: dict[str, Any] | None) -> Any:
    from checkout_freshportal.reconcile.settings import ReconcileSettings

    # DAG params over CFP_RECON_* over its SETTINGS_FILE (docs/settings.md).
    return ReconcileSettings.load((params or {}).get("settings") or None)


def _as_of(engine: Any, run_id: str) -> datetime:
    import sqlalchemy as sa

    from checkout_freshportal.timeutil import utcnow
    from checkout_freshportal.warehouse.schema.recon import recon_runs

    with engine.connect() as conn:
        found = conn.execute(sa.select(recon_runs.c.as_of).where(recon_runs.c.run_id == run_id)).scalar()
    return found or utcnow()


def _engine() -> Any:
    from warehouse_hook import WarehouseHook

    return WarehouseHook().get_engine()


def reconcile(params: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """Matching and exceptions; ``full`` (param) forces a full run, else the settings decide."""
    from checkout_freshportal.reconcile.service import run_reconciliation
    from checkout_freshportal.timeutil import utcnow

    settings, full = _settings(params), bool((params or {}).get("full"))
    engine = _engine()
    try:
        result = run_reconciliation(
            engine, settings, run_id=run_id, as_of=utcnow(), full=True if full else None
        )
    finally:
        engine.dispose()
    return dict(result.as_dict())


def data_quality(params: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """The data-quality suite; a failed critical check fails the task (no retry) after storing."""
    from checkout_freshportal.reconcile.quality import run_quality

    engine = _engine()
    try:
        result = run_quality(engine, run_id=run_id, as_of=_as_of(engine, run_id))
    finally:
        engine.dispose()
    result.raise_for_critical()
    return dict(result.as_dict())


def render_report(params: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """The finance report of this run into ``ReportSettings.out_dir`` (dated folder + latest/)."""
    from pathlib import Path

    from checkout_freshportal.reports.render import render_report as render
    from checkout_freshportal.reports.settings import ReportSettings

    settings = ReportSettings.load()  # CFP_REPORT_* (docs/settings.md)
    engine = _engine()
    try:
        # fallback: if ``reconcile`` failed (with or without its recon_runs row), the report shows
        # the newest succeeded run under a banner saying this run did not complete.
        paths = render(
            engine,
            Path(settings.out_dir),
            as_of=_as_of(engine, run_id),
            run_id=run_id,
            settings=settings,
            fallback=True,
        )
    finally:
        engine.dispose()
    log.info("report written to %s (latest: %s)", paths.directory, paths.latest)
    return dict(paths.as_dict())


def _dq_status(engine: Any, run_id: str) -> str | None:
    import sqlalchemy as sa

    from checkout_freshportal.warehouse.schema.recon import recon_runs

    with engine.connect() as conn:
        q = sa.select(recon_runs.c.dq_status).where(recon_runs.c.run_id == run_id)
        return conn.execute(q).scalar()


def note_exceptions(params: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """One FreshPortal note per exception and state change; failures fail the task after all.

    Skipped when this run's data-quality suite failed a critical check: the exceptions were
    found in data known to be wrong, and customer service would act on them. The report still
    shows them (finance sees the failure next to them); the notes go out with the first run
    whose data passes.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from checkout_freshportal.logsafe import safe
    from checkout_freshportal.reconcile.notes import note_exceptions as note
    from checkout_freshportal.timeutil import utcnow

    settings = _settings(params)
    if not settings.notes:
        return {"disabled": True}
    engine = _engine()
    if _dq_status(engine, run_id) == "failed":
        engine.dispose()
        log.warning("notes skipped: data quality of run %s failed a critical check", safe(run_id))
        raise AirflowSkipException("data quality failed a critical check: no notes from this run")
    from freshportal_hook import FreshPortalHook

    fp = FreshPortalHook().get_conn()
    try:
        result = note(fp, engine, settings, now=utcnow)
    finally:
        engine.dispose()
        log.info("API calls: freshportal=%s", fp.stats.snapshot())
    result.raise_for_failures()
    return result.as_dict()
