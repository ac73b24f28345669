"""Task bodies of ``freshportal_captures``: build clients from Connections, call the library.

Kept outside the DAG file so the DAG stays orchestration only and parsing imports nothing heavy.
Connections: ``freshportal_default`` (FreshPortalHook), ``checkout_default`` (CheckoutHook) and
``cfp_warehouse`` (WarehouseHook; without it CFP_WAREHOUSE_URL, and without either the task fails).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

STEPS = ("pull", "execute", "resolve", "write_back")
#: Steps that talk to Checkout.com (the others need no Checkout connection).
_NEEDS_CHECKOUT = ("execute", "resolve")


def run_step(step: str, params: dict[str, Any] | None, run_id: str | None) -> dict[str, Any]:
    """Run one step; returns its counts (XCom). Failures raise after the whole batch was tried."""
    from checkout_freshportal.sync.captures import service
    from checkout_freshportal.sync.captures.settings import CaptureSettings

    from freshportal_hook import FreshPortalHook
    from warehouse_hook import WarehouseHook

    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; known: {STEPS}")
    # DAG params over CFP_CAPTURES_* over its SETTINGS_FILE (docs/settings.md).
    settings = CaptureSettings.load((params or {}).get("settings") or None)
    fp = FreshPortalHook().get_conn()
    engine = WarehouseHook().get_engine()
    cko = None
    try:
        if step in _NEEDS_CHECKOUT:
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
