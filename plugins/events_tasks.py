"""Task bodies of ``checkout_events``: build the clients from Connections, call the library.

Kept outside the DAG file so the DAG stays orchestration only and parsing imports nothing heavy.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_HINTS = ("triggered_by", "reason", "pending_events", "newest_received_at")


def _mapping(hook: Any) -> Any:
    """The tenant mapping the push will use; the default one if FreshPortal is not configured yet."""
    from airflow.exceptions import AirflowNotFoundException

    from checkout_freshportal.freshportal import load_mapping

    try:
        return hook.get_conn().mapping
    except AirflowNotFoundException:
        log.warning(
            "no Connection %r: deriving FreshPortal statuses with the default mapping",
            hook.freshportal_conn_id,
        )
        return load_mapping()


def apply_events(params: dict[str, Any] | None, run_id: str | None) -> dict[str, Any]:
    from checkout_freshportal.sync.events import service as events
    from checkout_freshportal.sync.events.settings import EventsSettings

    from checkout_hook import CheckoutHook
    from freshportal_hook import FreshPortalHook
    from warehouse_hook import WarehouseHook

    params = params or {}
    hints = {k: params.get(k) for k in _HINTS if params.get(k) is not None}
    if hints:
        log.info("run hints (not relied on): %s", hints)
    # DAG params over CFP_EVENTS_* over CFP_EVENTS_SETTINGS_FILE (docs/settings.md).
    settings = EventsSettings.load(params.get("settings") or None)
    checkout = CheckoutHook().get_conn()
    mapping = _mapping(FreshPortalHook())
    engine = WarehouseHook().get_engine()
    try:
        result = events.apply_events(engine, checkout, mapping, settings, run_id=run_id)
    finally:
        engine.dispose()
    out = result.as_dict()
    out["api_calls"] = checkout.stats.snapshot()
    return out


def push_statuses(params: dict[str, Any] | None, run_id: str | None) -> dict[str, Any]:
    from checkout_freshportal.sync.status_push import service as status_push
    from checkout_freshportal.sync.status_push.settings import PushSettings

    from freshportal_hook import FreshPortalHook
    from warehouse_hook import WarehouseHook

    params = params or {}
    settings = PushSettings.load(params.get("push_settings") or None)
    client = FreshPortalHook().get_conn()
    engine = WarehouseHook().get_engine()
    try:
        result = status_push.push_statuses(engine, client, settings, run_id=run_id)
    finally:
        engine.dispose()
    out = result.as_dict()
    out["api_calls"] = client.stats.snapshot()
    return out


def deadline_notes(params: dict[str, Any] | None, run_id: str | None) -> dict[str, Any]:
    """Notes on orders whose dispute evidence is due soon (docs/chargebacks.md)."""
    from checkout_freshportal.sync.chargebacks import service as chargebacks
    from checkout_freshportal.sync.chargebacks.settings import ChargebackSettings

    from freshportal_hook import FreshPortalHook
    from warehouse_hook import WarehouseHook

    params = params or {}
    settings = ChargebackSettings.load(params.get("chargeback_settings") or None)
    client = FreshPortalHook().get_conn()
    engine = WarehouseHook().get_engine()
    try:
        result = chargebacks.raise_deadline_notes(client, engine, settings)
    finally:
        engine.dispose()
    out = result.as_dict()
    out["api_calls"] = client.stats.snapshot()
    result.raise_for_failures()  # after every note had its chance: the task fails loudly
    return out
