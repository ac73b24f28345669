"""Refunds, voids and captures: their outbox (``sync_money_intents``) and FreshPortal's refund
requests (``stg_refund_requests``).

Written by the ``freshportal_refunds`` DAG (docs/refunds.md) and the captures step
(docs/captures.md). Self-contained like 0001 (no import of ``schema``): a migration is a snapshot.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _big(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _int(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def upgrade() -> None:
    t = "sync_money_intents"
    op.create_table(
        t,
        _text("intent_id", False),
        _text("kind", False),
        _text("request_key", False),
        _text("order_id", False),
        _text("order_number"),
        _text("payment_id"),
        sa.Column("currency", sa.String(3), nullable=False),
        _big("amount_minor", False),
        sa.Column("final", sa.Boolean(), nullable=True),
        _text("idempotency_key", False),
        _text("state", False),
        _text("reason_code"),
        _text("reason_text"),
        _text("action_id"),
        _text("response_code"),
        _text("response_summary"),
        _big("outcome_amount_minor"),
        _ts("outcome_at"),
        _text("outcome_source"),
        _big("fp_version"),
        _ts("requested_at"),
        _ts("created_at", False),
        _int("attempts", False),
        _ts("first_attempted_at"),
        _ts("attempted_at"),
        _ts("accepted_at"),
        _text("last_error"),
        _text("writeback_status"),
        _text("written_back_status"),
        _ts("written_back_at"),
        _int("writeback_attempts", False),
        _ts("updated_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("intent_id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("action_id", name=op.f(f"uq_{t}_action_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f(f"uq_{t}_idempotency_key")),
        sa.UniqueConstraint("request_key", name=op.f(f"uq_{t}_request_key")),
        comment="Outbox of refunds, voids and captures: one row per FreshPortal request, written "
        "before the POST; the action id is recorded the moment Checkout.com accepts it.",
    )
    for col in ("state", "payment_id", "order_id"):
        op.create_index(op.f(f"ix_{t}_{col}"), t, [col], unique=False)

    r = "stg_refund_requests"
    op.create_table(
        r,
        _text("refund_request_id", False),
        _text("order_id", False),
        _text("order_number"),
        sa.Column("currency", sa.String(3), nullable=False),
        _big("amount_minor", False),
        _text("reason"),
        _text("fp_status", False),
        _text("state", False),
        _ts("requested_at"),
        _ts("fp_updated_at"),
        _big("fp_version"),
        _text("outcome_status"),
        _text("outcome_refund_id"),
        _ts("first_seen_at", False),
        _ts("updated_at", False),
        _text("source", False),
        sa.PrimaryKeyConstraint("refund_request_id", name=op.f(f"pk_{r}")),
        comment="One row per FreshPortal refund request, from the refund-requests feed.",
    )
    op.create_index(op.f(f"ix_{r}_order_id"), r, ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_table("stg_refund_requests")
    op.drop_table("sync_money_intents")
