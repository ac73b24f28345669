"""Task body of ``pipeline_health``: run the checks, store them, notify and fail on an alert.

The checks are in the library (checkout_freshportal/observability/health.py); this adapts
Airflow (the warehouse connection, the run id, the SMTP connection) and turns an alert into a
failed task, which is what an operator's Airflow view and its alerting notice.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def check_health(run_id: str) -> dict[str, Any]:
    from checkout_freshportal.observability import health
    from checkout_freshportal.observability.notify import send
    from checkout_freshportal.observability.settings import HealthSettings, NotifySettings
    from checkout_freshportal.timeutil import utcnow

    from failure_callbacks import smtp_target
    from warehouse_hook import WarehouseHook

    settings = HealthSettings.load()
    notify = NotifySettings.from_env()  # refused settings fail here, before any check runs
    engine = WarehouseHook().get_engine()
    try:
        results = health.evaluate(engine, settings, run_id=run_id, now=utcnow())
    finally:
        engine.dispose()
    for r in results:
        log.log(logging.ERROR if r.status == health.ALERT else logging.INFO, "%s", health.line(r))
    alerts = [r.name for r in results if r.status == health.ALERT]
    summary = {"status": health.worst(results), "alerts": alerts, **{r.name: r.status for r in results}}
    if not alerts:
        return summary
    notified = False
    try:
        channel = send(health.alert_notification(run_id, results), notify, smtp=smtp_target(notify))
        notified = channel != "none"
    except Exception as exc:  # the alert itself must still fail the task
        log.error("health alert not notified: %s: %s", type(exc).__name__, exc)
    raise health.HealthAlert(f"health checks alerting: {', '.join(alerts)}", notified=notified)
