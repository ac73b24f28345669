"""Payments that staged money movements refer to but staged payments do not explain yet.

A refund on a month-old payment or a chargeback shows up in a report or a dispute long after the
payment left the re-walk; reading those payments one by one closes the gap a creation-time
search leaves.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.checkout.errors import NotFoundError
from checkout_freshportal.checkout.statuses import BALANCE_OF_ACTION_TYPE
from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest.payments import stage_payments
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.timeutil import format_ts, parse_ts
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.watermarks import get_watermark, set_watermark

log = logging.getLogger(__name__)

WM_REFRESH = "checkout.refresh.first_seen_at"


def referenced_payment_ids(
    conn: Connection, since: datetime | None, limit: int
) -> tuple[list[str], datetime | None]:
    """Payments that staged money movements refer to but staged payments do not explain.

    Returns the ids (oldest evidence first) and the newest ``first_seen_at`` considered, which
    becomes the refresh watermark once those payments have landed.
    """
    fa, pa, pay, dsp = (
        schema.stg_financial_actions,
        schema.stg_payment_actions,
        schema.stg_payments,
        schema.stg_disputes,
    )
    missing_action = (
        sa.select(fa.c.payment_id.label("payment_id"), sa.func.min(fa.c.first_seen_at).label("seen"))
        .select_from(fa.outerjoin(pa, pa.c.action_id == fa.c.action_id))
        .where(
            fa.c.payment_id.is_not(None),
            pa.c.action_id.is_(None),
            fa.c.action_type.in_(sorted(BALANCE_OF_ACTION_TYPE)),
        )
        .group_by(fa.c.payment_id)
    )
    missing_payment = (
        sa.select(dsp.c.payment_id.label("payment_id"), sa.func.min(dsp.c.first_seen_at).label("seen"))
        .select_from(dsp.outerjoin(pay, pay.c.payment_id == dsp.c.payment_id))
        .where(dsp.c.payment_id.is_not(None), pay.c.payment_id.is_(None))
        .group_by(dsp.c.payment_id)
    )
    union = sa.union_all(missing_action, missing_payment).subquery()
    query = sa.select(union.c.payment_id, sa.func.min(union.c.seen).label("seen")).group_by(
        union.c.payment_id
    )
    if since is not None:
        query = query.having(sa.func.max(union.c.seen) > since)
    query = query.order_by(sa.text("seen"), union.c.payment_id).limit(limit)
    rows = conn.execute(query).all()
    seen = (parse_ts(r.seen, assume_utc=True) for r in rows)
    newest = max((t for t in seen if t is not None), default=None)
    return [r.payment_id for r in rows], newest


def refresh_referenced_payments(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings | None = None,
    *,
    run_id: str | None = None,
) -> StepResult:
    settings = settings or IngestSettings()
    result = StepResult("refresh")
    with engine.connect() as conn:
        mark = get_watermark(conn, WM_REFRESH)
        ids, newest = referenced_payment_ids(
            conn, parse_ts(mark) if mark else None, settings.max_refresh_per_run
        )
    quarantine = q.Quarantine.for_step(engine, result.quarantine, [q.SOURCE_PAYMENTS], settings, run_id)
    not_found: list[str] = []
    fetched: dict[str, Any] = {}
    for payment_id in ids:
        if quarantine.is_open(q.SOURCE_PAYMENTS, payment_id):
            continue  # ingest_payments retries it; it must not fail this step a second time
        try:
            _refresh_one(client, engine, payment_id, result, fetched, run_id=run_id)
        except NotFoundError:
            not_found.append(payment_id)  # e.g. outside the sandbox's retention; reported, not hidden
        except Exception as exc:
            if not q.is_item_error(exc):
                raise
            with engine.begin() as conn:
                quarantine.isolate_object(
                    conn, q.SOURCE_PAYMENTS, fetched.get(payment_id), exc, item_id=payment_id
                )
    if newest is not None and len(ids) < settings.max_refresh_per_run:
        with engine.begin() as conn:
            set_watermark(conn, WM_REFRESH, format_ts(newest), run_id=run_id)
        result.watermark = format_ts(newest)
    if not_found:
        result.details["not_found"] = not_found[:50]
        log.warning("refresh: %d referenced payments not found at Checkout.com", len(not_found))
    quarantine.finish()
    log.info("refresh: %d referenced payments re-read", result.fetched)
    return result


def _refresh_one(
    client: CheckoutReader,
    engine: Engine,
    payment_id: str,
    result: StepResult,
    fetched: dict[str, Any],
    *,
    run_id: str | None,
) -> None:
    payment = fetched[payment_id] = client.get_payment(payment_id)
    actions = client.get_payment_actions(payment_id)
    scratch = StepResult(result.step)
    with engine.begin() as conn:
        stage_payments(
            conn, [payment], {payment_id: actions}, source="checkout.payments", run_id=run_id, result=scratch
        )
    result.add(scratch)
    result.fetched += 1
    result.actions_fetched_for += 1
