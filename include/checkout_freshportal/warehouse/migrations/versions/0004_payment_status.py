"""Derived payment status (``stg_payment_status``), the FreshPortal status outbox
(``sync_status_outbox``) and the declines log (``ops_payment_declines``).

Written by the ``checkout_events`` DAG (docs/status-machine.md). Self-contained like 0001 (no
import of ``schema``): a migration is a snapshot.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BALANCES = (
    "total_authorized",
    "total_voided",
    "available_to_void",
    "total_captured",
    "available_to_capture",
    "total_refunded",
    "available_to_refund",
)


def _json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _big(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _bookkeeping() -> list[sa.Column]:
    return [_ts("first_seen_at", False), _ts("updated_at", False), _text("source", False)]


def upgrade() -> None:
    op.create_table(
        "stg_payment_status",
        _text("payment_id", False),
        _text("order_id"),
        _text("reference"),
        _text("status"),
        _text("dispute_id"),
        _text("dispute_status"),
        _text("dispute_state"),
        _text("freshportal_status"),
        sa.Column("currency", sa.String(3), nullable=True),
        _big("amount_minor"),
        *[_big(f"{b}_minor") for b in BALANCES],
        _big("version", False),
        _ts("status_since"),
        _ts("derived_from_event_at"),
        _ts("truth_fetched_at"),
        _text("problems"),
        sa.Column("events_applied", sa.Integer(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_stg_payment_status")),
        comment="Derived payment status per payment (status state machine), with its FreshPortal status.",
    )
    op.create_index(op.f("ix_stg_payment_status_order_id"), "stg_payment_status", ["order_id"], unique=False)
    op.create_index(
        op.f("ix_stg_payment_status_reference"), "stg_payment_status", ["reference"], unique=False
    )

    op.create_table(
        "sync_status_outbox",
        _text("order_id", False),
        _big("version", False),
        _text("payment_id", False),
        _text("freshportal_status", False),
        _text("checkout_status"),
        sa.Column("payload", _json(), nullable=False),
        _ts("created_at", False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _ts("last_attempt_at"),
        _ts("next_attempt_at"),
        _text("last_error"),
        _ts("delivered_at"),
        _text("outcome"),
        _text("run_id"),
        sa.PrimaryKeyConstraint("order_id", "version", name=op.f("pk_sync_status_outbox")),
        comment="Outbox of FreshPortal payment-status writes: one row per order and version.",
    )
    op.create_index(
        "ix_sync_status_outbox_waiting",
        "sync_status_outbox",
        ["order_id"],
        unique=False,
        postgresql_where=sa.text("outcome IS NULL"),
        sqlite_where=sa.text("outcome IS NULL"),
    )

    op.create_table(
        "ops_payment_declines",
        _text("decline_id", False),
        _text("payment_id", False),
        _text("kind", False),
        _text("event_id"),
        _text("action_id"),
        _text("response_code"),
        _text("response_summary"),
        _big("amount_minor"),
        sa.Column("currency", sa.String(3), nullable=True),
        _ts("occurred_at"),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("decline_id", name=op.f("pk_ops_payment_declines")),
        comment="Declines, expiries and declined captures/voids/refunds, with codes, for operations.",
    )
    op.create_index(
        op.f("ix_ops_payment_declines_payment_id"), "ops_payment_declines", ["payment_id"], unique=False
    )
    op.create_index(
        op.f("ix_ops_payment_declines_occurred_at"), "ops_payment_declines", ["occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("ops_payment_declines")
    op.drop_table("sync_status_outbox")
    op.drop_table("stg_payment_status")
