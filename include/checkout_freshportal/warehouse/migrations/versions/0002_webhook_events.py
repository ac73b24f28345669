"""Webhook events received by the sidecar, verbatim, one row per Checkout.com event id.

The sidecar commits a row here before it answers 2xx; the ``checkout_events`` DAG applies the
unprocessed rows and sets ``processed_at``. Self-contained like 0001 (no import of ``schema``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "raw_webhook_events",
        _text("event_id", False),
        _text("event_type"),
        _text("subject_id"),
        _ts("occurred_at"),
        _ts("received_at", False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("key_index", sa.Integer(), nullable=True),
        sa.Column("is_poison", sa.Boolean(), server_default=sa.false(), nullable=False),
        _text("poison_reason"),
        _ts("processed_at"),
        sa.Column("process_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _text("last_error"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_raw_webhook_events")),
        comment="Every signed webhook verbatim, committed before the 2xx; a resend adds nothing.",
    )
    op.create_index(
        "ix_raw_webhook_events_unprocessed",
        "raw_webhook_events",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_index(
        "ix_raw_webhook_events_poison",
        "raw_webhook_events",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("is_poison"),
        sqlite_where=sa.text("is_poison"),
    )
    op.create_index(
        op.f("ix_raw_webhook_events_subject_id"), "raw_webhook_events", ["subject_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("raw_webhook_events")
