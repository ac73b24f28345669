"""A failed task instance: recorded in ``ops_task_failures``, then notified.

The Airflow side (plugins/failure_callbacks.py) turns its callback context into a
:class:`TaskFailure`; everything else happens here, without Airflow. Order matters: the row is
written first, so a notification that cannot be sent (SMTP down, webhook refusing) still leaves
the failure on record, with ``notify_error`` saying why; and a warehouse that cannot be reached
does not stop the notification.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from checkout_freshportal.logsafe import safe
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.schema import ops_task_failures as T

from .logs import masker_from_env
from .notify import Notification, SmtpTarget, send
from .settings import NotifySettings

log = logging.getLogger(__name__)

#: Longest exception message kept (masked and escaped) in the row and the notification.
MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class TaskFailure:
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int
    hostname: str | None
    exception_class: str | None
    message: str | None
    log_url: str | None
    failed_at: datetime

    @property
    def key(self) -> dict[str, object]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
        }


@dataclass(frozen=True)
class FailureOutcome:
    recorded: bool
    channel: str
    notified: bool
    record_error: str | None = None
    notify_error: str | None = None


def describe(
    exception: BaseException | str | None,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    try_number: int,
    map_index: int = -1,
    log_url: str | None = None,
    hostname: str | None = None,
    failed_at: datetime | None = None,
) -> TaskFailure:
    """The failure as stored: the exception's class and its text masked, then escaped."""
    masker = masker_from_env()
    if isinstance(exception, BaseException):
        cls: str | None = type(exception).__qualname__
        text: str | None = str(exception)
    else:
        cls, text = None, exception
    return TaskFailure(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        try_number=int(try_number),
        map_index=int(map_index),
        hostname=hostname or socket.gethostname(),
        exception_class=cls,
        message=safe(masker.text(text), MESSAGE_LIMIT) if text is not None else None,
        log_url=log_url,
        failed_at=failed_at or utcnow(),
    )


def record(engine: Engine, failure: TaskFailure, *, channel: str) -> bool:
    """Insert the row, or refresh it when this try was recorded already (a repeated callback).

    Returns whether this try was notified already, so a repeated callback sends no second message.
    """
    values = {**asdict(failure), "notify_channel": channel}
    data = {k: v for k, v in values.items() if k not in failure.key}
    where = sa.and_(*(T.c[k] == v for k, v in failure.key.items()))
    for _ in range(2):
        try:
            with engine.begin() as conn:
                before = conn.execute(sa.select(T.c.notified_at).where(where)).first()
                if before is not None and before.notified_at is not None:
                    return True
                if conn.execute(sa.update(T).where(where).values(**data)).rowcount == 0:
                    conn.execute(sa.insert(T).values(**values))
            return False
        except IntegrityError:  # another process inserted the same try in between: update it
            continue
    raise RuntimeError("ops_task_failures: the row could neither be inserted nor updated")


def mark(engine: Engine, failure: TaskFailure, *, notified: bool, error: str | None) -> None:
    where = sa.and_(*(T.c[k] == v for k, v in failure.key.items()))
    with engine.begin() as conn:
        conn.execute(
            sa.update(T).where(where).values(notified_at=utcnow() if notified else None, notify_error=error)
        )


def notification(failure: TaskFailure) -> Notification:
    where = f"{failure.dag_id}.{failure.task_id}" + (
        f"[{failure.map_index}]" if failure.map_index >= 0 else ""
    )
    lines = [
        f"Task {where} failed (try {failure.try_number}).",
        f"Run: {failure.run_id}",
        f"Failed at: {failure.failed_at.isoformat()}",
        f"Host: {failure.hostname or '-'}",
        f"Error: {failure.exception_class or '-'}: {failure.message or '-'}",
        f"Log: {failure.log_url or '-'}",
        "Recorded in ops_task_failures; what to do: docs/observability.md#task-failures",
    ]
    payload = {"kind": "task_failure", **asdict(failure), "failed_at": failure.failed_at.isoformat()}
    return Notification(
        subject=f"[cfp] task failed: {safe(where, 200)}", text="\n".join(lines), payload=payload
    )


def handle(
    failure: TaskFailure,
    settings: NotifySettings,
    *,
    engine_factory: Callable[[], Engine] | None,
    smtp: SmtpTarget | None = None,
    smtp_factory: Callable[[], SmtpTarget | None] | None = None,
    notify: bool = True,
    notify_error: str | None = None,
) -> FailureOutcome:
    """Record, notify, record the notification's outcome. Raises nothing: this runs in a failure
    callback, and an error here must never replace the task's own error in the operator's view.

    ``notify=False`` records only: the task sent its own message already (a health alert).
    ``smtp_factory`` (an Airflow connection's lookup) runs after the row is written, so a
    missing connection is a ``notify_error``, not a lost record; ``notify_error`` given: the
    notification could not even be set up (refused settings), recorded without sending.
    """
    masker = masker_from_env()
    engine: Engine | None = None
    record_error = None
    try:
        if engine_factory is None:
            raise RuntimeError("no warehouse configured")
        engine = engine_factory()
        if record(engine, failure, channel=settings.channel):
            engine.dispose()
            return FailureOutcome(True, settings.channel, True)
    except Exception as exc:
        record_error = f"{type(exc).__name__}: {safe(masker.text(str(exc)), 300)}"
        log.error("task failure of %s.%s not recorded: %s", failure.dag_id, failure.task_id, record_error)
    try:
        if notify_error is not None:
            raise RuntimeError(notify_error)
        if notify and smtp is None and smtp_factory is not None:
            smtp = smtp_factory()
        channel = send(notification(failure), settings, smtp=smtp) if notify else "none"
    except Exception as exc:
        channel = settings.channel
        notify_error = safe(masker.text(str(exc)), 500)
        log.error("task failure of %s.%s not notified: %s", failure.dag_id, failure.task_id, notify_error)
    notified = notify_error is None and channel != "none"
    try:
        if engine is not None and record_error is None:
            mark(engine, failure, notified=notified, error=notify_error)
    except Exception as exc:
        log.error("notification outcome not recorded: %s", type(exc).__name__)
    finally:
        if engine is not None:
            engine.dispose()
    return FailureOutcome(record_error is None, channel, notified, record_error, notify_error)
