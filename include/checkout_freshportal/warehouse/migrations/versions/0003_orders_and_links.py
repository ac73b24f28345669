"""FreshPortal orders (``stg_orders``) and the payment-link outbox (``sync_payment_link_intents``).

Written by the ``freshportal_payment_requests`` DAG (docs/payment-requests.md). Self-contained
like 0001 (no import of ``schema``): a migration is a snapshot.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _big(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _int(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _str(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "stg_orders",
        _text("order_id", False),
        _text("order_number", False),
        _text("status", False),
        sa.Column("order_date", sa.Date(), nullable=True),
        sa.Column("delivery_date", sa.Date(), nullable=True),
        _ts("confirmed_at"),
        _str("currency", 3, False),
        _big("amount_minor", False),
        _text("customer_id"),
        _text("customer_email_masked"),
        _str("customer_email_hash", 64),
        _str("customer_country", 2),
        _str("billing_country", 2),
        _int("line_count", False),
        sa.Column("invoice_numbers", _json(), nullable=True),
        _big("fp_version"),
        _ts("fp_created_at"),
        _ts("fp_updated_at"),
        _text("payment_status"),
        _str("payment_currency", 3),
        _big("amount_paid_minor"),
        _big("amount_refunded_minor"),
        _text("refund_state"),
        _text("payment_link_id"),
        _text("payment_link_url"),
        _text("psp_payment_id"),
        _text("payout_reference"),
        _big("payment_sequence"),
        _ts("payment_updated_at"),
        _ts("first_seen_at", False),
        _ts("updated_at", False),
        _text("source", False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_stg_orders")),
        comment="One row per FreshPortal order, from the changed-orders feed (no personal data).",
    )
    op.create_index(op.f("ix_stg_orders_order_number"), "stg_orders", ["order_number"], unique=False)
    op.create_index(op.f("ix_stg_orders_status"), "stg_orders", ["status"], unique=False)

    op.create_table(
        "sync_payment_link_intents",
        _text("intent_id", False),
        _text("order_id", False),
        _text("order_version", False),
        _big("fp_version"),
        _int("renewal_no", False),
        _text("reference", False),
        _str("currency", 3, False),
        _big("amount_minor", False),
        _int("expires_in", False),
        _text("idempotency_key", False),
        _text("state", False),
        _text("superseded_by"),
        _text("superseded_reason"),
        _text("link_id"),
        _text("link_url"),
        _ts("expires_on"),
        _text("link_status"),
        _ts("link_checked_at"),
        _text("payment_id"),
        _ts("created_at", False),
        _ts("attempted_at"),
        _int("attempts", False),
        _ts("link_created_at"),
        _text("last_error"),
        _text("writeback_status"),
        _text("written_back_status"),
        _ts("written_back_at"),
        _int("writeback_attempts", False),
        _ts("updated_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("intent_id", name=op.f("pk_sync_payment_link_intents")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sync_payment_link_intents_idempotency_key")),
        sa.UniqueConstraint("link_id", name=op.f("uq_sync_payment_link_intents_link_id")),
        sa.UniqueConstraint(
            "order_id", "order_version", name=op.f("uq_sync_payment_link_intents_order_id_order_version")
        ),
        comment="Outbox of Checkout.com payment links: one row per order version, written before the POST.",
    )
    op.create_index(
        op.f("ix_sync_payment_link_intents_state"), "sync_payment_link_intents", ["state"], unique=False
    )
    op.create_index(
        "ux_sync_payment_link_intents_current",
        "sync_payment_link_intents",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text("state <> 'superseded'"),
        sqlite_where=sa.text("state <> 'superseded'"),
    )


def downgrade() -> None:
    op.drop_table("sync_payment_link_intents")
    op.drop_table("stg_orders")
