"""Task bodies of ``checkout_ingest``: build the clients from Connections, call the library.

Kept outside the DAG file so the DAG stays orchestration only and parsing imports nothing heavy.
A step that meets an unreadable item quarantines it and succeeds with what it landed (its result
says what it quarantined); ``check_quarantine``, the last task, then fails the run loudly and
permanently, once every step (the refresh included) has landed what it could read.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def run_step(step: str, params: dict[str, Any] | None, run_id: str | None) -> dict[str, Any]:
    from checkout_freshportal.sync.ingest import service as ingest
    from checkout_freshportal.sync.ingest.settings import IngestSettings

    from checkout_hook import CheckoutHook
    from warehouse_hook import WarehouseHook

    params = params or {}
    # DAG params over CFP_INGEST_* over CFP_INGEST_SETTINGS_FILE (docs/settings.md).
    settings = IngestSettings.load(params.get("settings") or None)
    window = None
    if params.get("from") or params.get("to"):
        window = ingest.Window.parse(params.get("from"), params.get("to"))
        log.info("backfill window %s .. %s (watermarks stay put)", window.start, window.end)
    client = CheckoutHook().get_conn()
    engine = WarehouseHook().get_engine()
    try:
        if step == "refresh_referenced_payments":
            result = ingest.refresh_referenced_payments(client, engine, settings, run_id=run_id)
        else:
            result = getattr(ingest, step)(client, engine, settings, window=window, run_id=run_id)
    finally:
        engine.dispose()
    out = result.as_dict()
    out["api_calls"] = client.stats.snapshot()
    return out


def check_quarantine(results: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Fail (permanently: ``QuarantinedItemsError``) when a step quarantined a new item or a
    retried one failed again, naming count, ids and reasons; else return the quarantine figures,
    parked items included, so they stay visible in every run.

    It runs when a step failed too (trigger rule ``all_done``): that step's result is None. It
    then still names what the other steps quarantined, and fails (``UnfinishedStepsError`` when
    nothing was quarantined) naming the step, since as the DAG's leaf its success would make the
    run look successful."""
    from checkout_freshportal.sync.ingest.quarantine import QuarantineTally, raise_for_quarantine

    tallies = {
        step: QuarantineTally.from_dict((out or {}).get("quarantine")) for step, out in results.items()
    }
    figures = {
        step: {
            "new": len(t.new),
            "failed_again": len(t.failed_again),
            "resolved": len(t.resolved),
            "open": t.open,
            "parked": t.parked,
        }
        for step, t in tallies.items()
    }
    unfinished = [step for step, out in results.items() if out is None]
    log.info("quarantine: %s; steps without a result: %s", figures, unfinished or "none")
    raise_for_quarantine(tallies, unfinished=unfinished)
    return figures
