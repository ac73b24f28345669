"""Task bodies of ``checkout_ingest``: build the clients from Connections, call the library.

Kept outside the DAG file so the DAG stays orchestration only and parsing imports nothing heavy.
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
