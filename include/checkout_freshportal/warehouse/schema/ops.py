"""Operations layer: what operators and finance look at when a payment goes wrong."""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema.base import bookkeeping, currency, metadata
from checkout_freshportal.warehouse.types import Id, UTCDateTime

ops_payment_declines = sa.Table(
    "ops_payment_declines",
    metadata,
    sa.Column("decline_id", Id(), primary_key=True),  # the action id, else the event id
    sa.Column("payment_id", Id(), nullable=False),
    # payment_declined | capture_declined | void_declined | refund_declined | expired | canceled
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("event_id", Id(), nullable=True),
    sa.Column("action_id", Id(), nullable=True),
    sa.Column("response_code", sa.Text(), nullable=True),
    sa.Column("response_summary", sa.Text(), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=True),
    currency(),
    sa.Column("occurred_at", UTCDateTime(), nullable=True),
    *bookkeeping(),
    sa.Index(None, "payment_id"),
    sa.Index(None, "occurred_at"),
    comment="Declines, expiries and declined captures/voids/refunds, with codes, for operations.",
)
