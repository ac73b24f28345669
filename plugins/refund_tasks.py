"""Task bodies of ``freshportal_refunds``: build clients from Connections, call the library.

Kept outside the DAG file so the DAG stays orchestration only and parsing imports nothing heavy.
Connections: ``freshportal_default`` (FreshPortalHook), ``checkout_default`` (CheckoutHook) and
``cfp_warehouse`` (WarehouseHook; without it CFP_WAREHOUSE_URL, and without either the task fails).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def run_step(step: str, params: dict[str, Any] | None, run_id: str | None) -> dict[str, Any]:
    """Run one refund step; returns its counts (XCom). Failures raise after the whole batch."""
    from checkout_freshportal.sync.refunds import service
    from checkout_freshportal.sync.refunds.settings import RefundSettings

    from freshportal_hook import FreshPortalHook
    from warehouse_hook import WarehouseHook

    # DAG params over CFP_REFUNDS_* over its SETTINGS_FILE (docs/settings.md).
    settings = RefundSettings.load((params or {}).get("settings") or None)
    fp = FreshPortalHook().get_conn()
    engine = WarehouseHook().get_engine()
    cko = None
    try:
        if step != "pull":
            from checkout_hook import CheckoutHook

            cko = CheckoutHook().get_conn()
        out = service.run_step(step, fp=fp, cko=cko, engine=engine, settings=settings, run_id=run_id)
    finally:
        engine.dispose()
        log.info(
            "API calls: freshportal=%s checkout=%s", fp.stats.snapshot(), cko.stats.snapshot() if cko else {}
        )
    out["api_calls"] = {
        "freshportal": fp.stats.snapshot(),
        **({"checkout": cko.stats.snapshot()} if cko else {}),
    }
    return out
