"""The pipeline's health, measured from the warehouse: each check says ok, warn or alert, with
the value it measured and the threshold it compared it with.

Run by the ``pipeline_health`` DAG (plugins/health_tasks.py), results kept in
``ops_health_checks``; what each check means and what to do when it fires is in
docs/observability.md ("Health checks"). Every check is one small query on an indexed column,
so the DAG can run every 15 minutes against a warehouse of millions of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.logsafe import safe
from checkout_freshportal.warehouse.schema import (
    ops_health_checks,
    ops_quarantine,
    raw_webhook_events,
    recon_runs,
    sync_money_intents,
    sync_watermarks,
)

from .notify import Notification
from .settings import HealthSettings

OK, WARN, ALERT = "ok", "warn", "alert"
_RANK = {OK: 0, WARN: 1, ALERT: 2}


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    measure: int | None
    value: str
    threshold: str
    detail: str = ""


def _ago(when: datetime | None, now: datetime) -> int | None:
    return None if when is None else max(0, int((now - when).total_seconds()))


def _span(seconds: int | float | timedelta | None) -> str:
    """``42 s``, ``17 min``, ``3.5 h``, ``2.0 d``: enough to read at a glance."""
    if seconds is None:
        return "-"
    s = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    if s < 120:
        return f"{int(s)} s"
    if s < 7200:
        return f"{int(s // 60)} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def webhooks_arriving(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    name, limit = "webhooks_arriving", s.webhook_silence
    if not s.webhooks_expected:
        return CheckResult(name, OK, None, "not expected", "-", "CFP_HEALTH_WEBHOOKS_EXPECTED is off")
    newest = conn.execute(sa.select(sa.func.max(raw_webhook_events.c.received_at))).scalar()
    age = _ago(newest, now)
    if age is None:
        return CheckResult(name, ALERT, None, "none ever received", f"<= {_span(limit)}")
    status = ALERT if age > limit.total_seconds() else OK
    return CheckResult(name, status, age, f"newest {_span(age)} ago", f"<= {_span(limit)}")


def ingestion_lag(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    """A cursor's ``updated_at`` moves only when its value does, and some values move rarely
    (the daily report's ``created_on``, the newest swept dispute): over every cursor (the
    default), ingestion has stopped when none moved within the threshold (alert), and a single
    late one is named as a warning. Cursors the operator lists must each move: a late one alerts.
    """
    name, limit, t = "ingestion_lag", s.ingestion_lag, sync_watermarks
    query = sa.select(t.c.source, t.c.updated_at).order_by(t.c.updated_at, t.c.source)
    if s.ingestion_sources:
        query = query.where(t.c.source.in_(s.ingestion_sources))
    rows = conn.execute(query).all()
    if not rows:
        return CheckResult(name, OK, None, "no cursor yet", f"<= {_span(limit)}", "nothing ingested so far")
    ages = [(r.source, _ago(r.updated_at, now) or 0) for r in rows]
    late = [(src, age) for src, age in ages if age > limit.total_seconds()]
    newest, oldest = ages[-1][1], ages[0][1]
    detail = ", ".join(f"{safe(src)} {_span(age)}" for src, age in late[:5])
    if not late:
        status = OK
    elif s.ingestion_sources or len(late) == len(ages):
        status = ALERT
    else:
        status = WARN
    value = f"newest cursor {_span(newest)}, oldest {_span(oldest)}"
    measure = oldest if s.ingestion_sources else newest
    return CheckResult(name, status, measure, value, f"<= {_span(limit)}", detail)


def event_backlog(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    t = raw_webhook_events
    pending = sa.and_(t.c.processed_at.is_(None), t.c.is_poison.is_(sa.false()))
    count, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(t.c.received_at)).where(pending)
    ).one()
    age = _ago(oldest, now)
    too_many, too_old = count > s.backlog_count, age is not None and age > s.backlog_age.total_seconds()
    status = ALERT if too_many or too_old else OK
    value = f"{count} unprocessed, oldest {_span(age)}"
    return CheckResult(
        "event_backlog", status, int(count), value, f"<= {s.backlog_count}, <= {_span(s.backlog_age)}"
    )


def poison_events(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    """Unacknowledged poison events: above the maximum alerts, any growth since the last check warns."""
    t, h, name = raw_webhook_events, ops_health_checks, "poison_events"
    count = int(
        conn.execute(
            sa.select(sa.func.count()).where(t.c.is_poison.is_(sa.true()), t.c.processed_at.is_(None))
        ).scalar_one()
    )
    previous = conn.execute(
        sa.select(h.c.measure).where(h.c.check_name == name).order_by(h.c.checked_at.desc()).limit(1)
    ).scalar()
    grew = previous is not None and count > previous
    status = ALERT if count > s.poison_max else WARN if grew else OK
    detail = f"was {previous} at the last check" if grew else ""
    return CheckResult(
        name, status, count, f"{count} unacknowledged", f"<= {s.poison_max}, not growing", detail
    )


def money_in_doubt(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    """Refunds, voids and captures claimed (``sending``) longer than allowed: money may have moved."""
    t = sync_money_intents
    since = sa.func.coalesce(t.c.attempted_at, t.c.updated_at)
    cutoff = now - s.in_doubt_age
    rows = conn.execute(
        sa.select(t.c.kind, sa.func.count(), sa.func.min(since))
        .where(t.c.state == "sending", since < cutoff)
        .group_by(t.c.kind)
        .order_by(t.c.kind)
    ).all()
    count = sum(int(r[1]) for r in rows)
    oldest = min((r[2] for r in rows), default=None)
    detail = ", ".join(f"{r[0]}: {r[1]}" for r in rows)
    value = f"{count} in doubt" + (f", oldest {_span(_ago(oldest, now))}" if oldest else "")
    return CheckResult(
        "money_in_doubt",
        ALERT if count else OK,
        count,
        value,
        f"none older than {_span(s.in_doubt_age)}",
        detail,
    )


def data_quality(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    """The verdict of the latest run that has one: a run in progress, or one that failed before
    its checks, has no ``dq_status`` and must not hide the failed checks of the run before it."""
    t, name = recon_runs, "data_quality"
    row = conn.execute(
        sa.select(t.c.run_id, t.c.dq_status)
        .where(t.c.dq_status.is_not(None))
        .order_by(t.c.started_at.desc(), t.c.run_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return CheckResult(name, OK, None, "no checked reconciliation run yet", "passed")
    status = {"failed": ALERT, "warning": WARN}.get(row.dq_status or "", OK)
    shown = row.dq_status or "not checked"
    return CheckResult(name, status, None, shown, "passed", f"latest run {safe(row.run_id)}")


def quarantine_open(conn: Connection, s: HealthSettings, now: datetime) -> CheckResult:
    t = ops_quarantine
    rows = conn.execute(
        sa.select(t.c.state, sa.func.count())
        .where(t.c.state != "resolved")
        .group_by(t.c.state)
        .order_by(t.c.state)
    ).all()
    count = sum(int(r[1]) for r in rows)
    status = ALERT if count > s.quarantine_max else WARN if count else OK
    detail = ", ".join(f"{safe(r[0])}: {r[1]}" for r in rows)
    return CheckResult(
        "quarantine_open", status, count, f"{count} open", f"0 (alert above {s.quarantine_max})", detail
    )


CHECKS: tuple[Callable[[Connection, HealthSettings, datetime], CheckResult], ...] = (
    webhooks_arriving,
    ingestion_lag,
    event_backlog,
    poison_events,
    money_in_doubt,
    data_quality,
    quarantine_open,
)


def evaluate(engine: Engine, settings: HealthSettings, *, run_id: str, now: datetime) -> list[CheckResult]:
    """Run every check and store the results under ``run_id`` (a rerun of the run replaces them)."""
    with engine.connect() as conn:
        results = [check(conn, settings, now) for check in CHECKS]
    h = ops_health_checks
    with engine.begin() as conn:
        conn.execute(sa.delete(h).where(h.c.run_id == run_id))
        rows = [{**_row(r), "run_id": run_id, "checked_at": now} for r in results]
        conn.execute(sa.insert(h), rows)
    return results


def _row(r: CheckResult) -> dict[str, object]:
    values = asdict(r)
    values["check_name"] = values.pop("name")
    return values


def worst(results: list[CheckResult]) -> str:
    return max((r.status for r in results), key=_RANK.__getitem__, default=OK)


def line(r: CheckResult) -> str:
    tail = f" ({r.detail})" if r.detail else ""
    return f"{r.status.upper():5} {r.name}: {r.value} [threshold {r.threshold}]{tail}"


def alert_notification(run_id: str, results: list[CheckResult]) -> Notification:
    alerts = [r for r in results if r.status == ALERT]
    text = "\n".join(
        [
            f"pipeline_health run {run_id}: {len(alerts)} alert(s)",
            *map(line, results),
            "",
            'What to do for each check: docs/observability.md, "Health checks"',
        ]
    )
    return Notification(
        subject=f"[cfp] pipeline health: {', '.join(r.name for r in alerts)}",
        text=text,
        payload={"kind": "health_alert", "run_id": run_id, "checks": [asdict(r) for r in results]},
    )


class HealthAlert(RuntimeError):
    """A check alerted: raised by the task so Airflow shows the run failed.

    Permanent (no retry: the next scheduled run checks again). ``cfp_notified`` tells the
    failure callback the alert went out already, so it records the failure without a second
    message.
    """

    permanent = True

    def __init__(self, message: str, *, notified: bool) -> None:
        super().__init__(message)
        self.cfp_notified = notified
