"""Airflow's side of observability: every project task gets the failure callback, and its log
lines the masking filter and the correlation ids.

Applied by the cluster policy in ``airflow_local_settings.py`` (this folder), so every task of
every DAG file has them without each DAG listing them, including DAGs added later
(docs/observability.md, "Task failures"). Everything heavy is imported inside the callbacks:
this module is imported when Airflow initialises, before any DAG is parsed.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_CALLBACK_ATTRS = (
    "on_execute_callback",
    "on_failure_callback",
    "on_success_callback",
    "on_retry_callback",
    "on_skipped_callback",
)


def on_task_start(context: Any) -> None:
    """Bind the task's ids and mask its log lines (Airflow's handlers keep their format)."""
    try:
        from checkout_freshportal.observability import install_filters
        from checkout_freshportal.observability.context import set_ids

        ti = context["ti"]
        set_ids(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id)
        install_filters(logging.getLogger().handlers, inline=True)
    except Exception:  # observability must never stop a task
        log.exception("cfp: could not install the log filters")


def on_task_end(context: Any) -> None:
    """Unbind the task's ids: ``dag.test`` runs every task in one process, whose later lines
    must not carry a finished task's ids."""
    try:
        from checkout_freshportal.observability.context import set_ids

        set_ids()
    except Exception:
        log.exception("cfp: could not unbind the task's ids")


def on_task_failure(context: Any) -> None:
    """Record the failure in ``ops_task_failures`` and notify; never raises."""
    try:
        from checkout_freshportal.observability import failures
        from checkout_freshportal.observability.settings import NotifySettings

        ti = context["ti"]
        failure = failures.describe(
            context.get("exception"),
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            try_number=ti.try_number,
            map_index=getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1,
            log_url=getattr(ti, "log_url", None),
            hostname=getattr(ti, "hostname", None),
        )
        refused = None
        try:
            settings = NotifySettings.from_env()
        except Exception as exc:  # the failure is recorded all the same, with why nobody was told
            settings, refused = NotifySettings.from_mapping({}), f"notify settings refused: {exc}"
        already = bool(getattr(context.get("exception"), "cfp_notified", False))
        outcome = failures.handle(
            failure,
            settings,
            engine_factory=_engine,
            smtp_factory=lambda: smtp_target(settings),
            notify=not already,
            notify_error=refused,
        )
        log.info(
            "cfp: failure recorded=%s, notified=%s via %s",
            outcome.recorded,
            outcome.notified,
            outcome.channel,
        )
    except Exception:
        log.exception("cfp: the failure callback failed (the task's own failure stands)")
    finally:
        on_task_end(context)


def smtp_target(settings: Any) -> Any:
    """SMTP from the settings, the Airflow connection ``CFP_NOTIFY_SMTP_CONN_ID`` overriding
    host, port, login and password (``extra`` may hold ``{"starttls": true}``)."""
    from checkout_freshportal.observability.notify import SmtpTarget

    if settings.channel != "smtp":
        return None
    if not settings.smtp_conn_id:
        return SmtpTarget.from_settings(settings)
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(settings.smtp_conn_id)
    extra = conn.extra_dejson or {}
    base = SmtpTarget(
        host=conn.host or settings.smtp_host or "",
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=bool(extra.get("starttls", settings.smtp_starttls)),
    )
    return base.overridden(port=conn.port, user=conn.login, password=conn.password)


def _engine() -> Any:
    from warehouse_hook import WarehouseHook

    return WarehouseHook().get_engine()


def attach(task: Any) -> None:
    """Add the project's callbacks to ``task``, after any it has; a second call adds nothing."""
    ours = {
        "on_execute_callback": on_task_start,
        "on_failure_callback": on_task_failure,
        "on_success_callback": on_task_end,
        "on_retry_callback": on_task_end,
        "on_skipped_callback": on_task_end,
    }
    for attr in _CALLBACK_ATTRS:
        existing = getattr(task, attr, None)
        if existing is None:
            callbacks: list[Any] = []
        elif isinstance(existing, list | tuple):
            callbacks = list(existing)
        else:
            callbacks = [existing]
        if not any(_same(cb, ours[attr]) for cb in callbacks):
            setattr(task, attr, [*callbacks, ours[attr]])


def _same(a: Any, b: Any) -> bool:
    """Same callback by module and name, not identity: a process that imports this module a
    second time (Airflow re-reading ``airflow_local_settings``) must not add a second copy, which
    would record and notify a failure twice."""
    key = ("__module__", "__qualname__")
    return all(getattr(a, k, None) == getattr(b, k, None) for k in key)
