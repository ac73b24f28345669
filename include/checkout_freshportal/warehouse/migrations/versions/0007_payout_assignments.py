"""Payout ids of report lines in their own table: ``stg_financial_action_payouts``.

A line usually arrives first in a date-range file without a payout id and again in a by-payout
file with one. Recording that by updating ``stg_financial_actions.payout_id`` rewrote every such
line whole (about 470 bytes, a new row version and index entries each); a narrow row in
``stg_financial_action_payouts`` costs a fraction (docs/warehouse.md "Payout ids"). Existing
payout ids move there; ``stg_financial_actions`` loses the column and its partial index.
``raw_report_files`` gains ``payouts_assigned`` (lines given a payout id by that file).

Self-contained like 0001 (no import of the library).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FA = "stg_financial_actions"
PAYOUTS = "stg_financial_action_payouts"
COLUMNS = "processed_on, line_key, payout_id, source_file_id, first_seen_at, updated_at, source"


def _payout_index() -> None:
    op.create_index(
        op.f("ix_stg_financial_actions_payout_id"),
        FA,
        ["payout_id"],
        unique=False,
        postgresql_where=sa.text("payout_id IS NOT NULL"),
        sqlite_where=sa.text("payout_id IS NOT NULL"),
    )


def upgrade() -> None:
    op.create_table(
        PAYOUTS,
        sa.Column("processed_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line_key", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("payout_id", sa.Text(), nullable=False),
        sa.Column("source_file_id", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("processed_on", "line_key", name=op.f(f"pk_{PAYOUTS}")),
        comment="The payout id of each financial-action report line a by-payout file named.",
    )
    op.execute(f"INSERT INTO {PAYOUTS} ({COLUMNS}) SELECT {COLUMNS} FROM {FA} WHERE payout_id IS NOT NULL")
    op.drop_index(op.f("ix_stg_financial_actions_payout_id"), table_name=FA)
    with op.batch_alter_table(FA) as batch:
        batch.drop_column("payout_id")
    with op.batch_alter_table("raw_report_files") as batch:
        batch.add_column(sa.Column("payouts_assigned", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("raw_report_files") as batch:
        batch.drop_column("payouts_assigned")
    with op.batch_alter_table(FA) as batch:
        batch.add_column(sa.Column("payout_id", sa.Text(), nullable=True))
    op.execute(
        f"UPDATE {FA} SET payout_id = (SELECT p.payout_id FROM {PAYOUTS} AS p "
        f"WHERE p.processed_on = {FA}.processed_on AND p.line_key = {FA}.line_key)"
    )
    _payout_index()
    op.drop_table(PAYOUTS)
