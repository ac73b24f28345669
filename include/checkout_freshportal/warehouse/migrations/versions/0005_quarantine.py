"""Ingestion quarantine (``ops_quarantine``): what could not be read, kept aside with its reason.

Written by the ``checkout_ingest`` DAG, listed and re-queued with ``cfp quarantine``
(docs/runbook-ingest.md). Self-contained like 0001 (no import of ``schema``): a migration is a
snapshot.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ops_quarantine",
        _text("source", False),
        _text("item_id", False),
        _text("parent_id"),
        _text("state", False),
        _text("reason", False),
        _text("error_class", False),
        _text("raw_location", False),
        sa.Column("payload_sha256", sa.String(64), nullable=True),
        sa.Column("payload", _json(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("first_failed_at", False),
        _ts("last_failed_at", False),
        _ts("requeued_at"),
        _ts("resolved_at"),
        _text("run_id"),
        sa.PrimaryKeyConstraint("source", "item_id", name=op.f("pk_ops_quarantine")),
        comment="Objects, listing entries and report files ingestion could not read: stored raw, "
        "kept aside with the reason, retried by later runs without blocking them.",
    )
    op.create_index(
        "ix_ops_quarantine_open",
        "ops_quarantine",
        ["source", "last_failed_at"],
        unique=False,
        postgresql_where=sa.text("state <> 'resolved'"),
        sqlite_where=sa.text("state <> 'resolved'"),
    )


def downgrade() -> None:
    op.drop_index("ix_ops_quarantine_open", table_name="ops_quarantine")
    op.drop_table("ops_quarantine")
