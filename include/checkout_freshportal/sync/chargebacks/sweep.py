"""Disputes the sweep staged, into the payments' derived status (a lost or late webhook).

``ingest/disputes.py`` lands ``GET /disputes`` in ``stg_disputes`` (``source`` ``checkout.api``)
without touching ``stg_payment_status``, so a dispute whose webhooks never came would not reach
the order. The events run therefore turns each swept row changed since its watermark (re-read
with an overlap: a row committed late is not skipped) into a dispute fact, as a webhook would
have, and folds it into the payment's state: ranks decide (``status/disputes.py``), so a swept
status behind the webhooks' changes nothing, and the fact id (dispute and status) makes a row
read again one fact. Only payments the state machine already knows are touched: a dispute alone
says nothing of the payment's own status.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.sync.status.disputes import DISPUTE_RANK
from checkout_freshportal.sync.status.facts import Fact
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.mappers import DEFAULT_SOURCE
from checkout_freshportal.warehouse.watermarks import get_watermark_ts, set_watermark_ts

WM_SWEPT = "chargebacks.swept_disputes.updated_at"
#: Rows are read again this far before the watermark (transactions that committed late).
OVERLAP = timedelta(minutes=10)
#: ``kind`` of a fact built from a swept dispute row.
SWEPT_KIND = "dispute_swept"


def swept_facts(conn: Connection) -> tuple[list[Fact], datetime | None]:
    """Facts of the swept rows changed since the watermark, and the newest change seen."""
    d, ps = schema.stg_disputes, schema.stg_payment_status
    since = get_watermark_ts(conn, WM_SWEPT)
    cond = [d.c.source == DEFAULT_SOURCE]
    if since is not None:
        cond.append(d.c.updated_at >= since - OVERLAP)
    stmt = sa.select(d).join(ps, ps.c.payment_id == d.c.payment_id).where(*cond).order_by(d.c.updated_at)
    facts: list[Fact] = []
    newest: datetime | None = None
    for r in conn.execute(stmt):
        newest = r.updated_at if newest is None or r.updated_at > newest else newest
        if r.status not in DISPUTE_RANK:
            continue
        facts.append(
            Fact(
                fact_id=f"swept:{r.dispute_id}:{r.status}",
                kind=SWEPT_KIND,
                payment_id=r.payment_id,
                at=r.last_update,
                amount=r.amount_minor,
                currency=r.currency,
                reference=r.payment_reference,
                dispute_id=r.dispute_id,
                dispute_status=r.status,
                resolved_reason=r.resolved_reason,
            )
        )
    return facts, newest


def advance(conn: Connection, newest: datetime | None, run_id: str | None) -> None:
    if newest is not None:
        set_watermark_ts(conn, WM_SWEPT, newest, run_id)
