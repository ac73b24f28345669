"""Report-line tables: BRIN instead of btree for reconciliation's lookups, and the paid-out set.

0009 gave ``stg_financial_actions`` btrees on ``updated_at`` and ``action_id`` and
``stg_financial_action_payouts`` btrees on ``updated_at`` and ``payout_id``. Each is maintained
row by row while a report file is COPYed in, which took report staging from about 0.54 to about
0.41 of a plain COPY's speed (docs/warehouse.md). Rows of one file are written together, so on
PostgreSQL a BRIN index (one summary per 128 pages) answers "stamped since" and "lines of this
payout" nearly as well and costs next to nothing on load; SQLite has no BRIN and keeps a btree.
The ``action_id`` lookup is replaced by ``recon_paid_out_actions``, which reconciliation keeps.

Self-contained (no import of ``schema``): a migration is a snapshot.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LINES, _PAYOUTS = "stg_financial_actions", "stg_financial_action_payouts"
#: (table, column): btree in 0009, BRIN on PostgreSQL from here on
_BRIN = ((_LINES, "updated_at"), (_PAYOUTS, "updated_at"), (_PAYOUTS, "payout_id"))


def _name(table: str, col: str) -> str:
    return f"ix_{table}_{col}"


def upgrade() -> None:
    for table, col in _BRIN:
        op.drop_index(op.f(_name(table, col)), table_name=table)
        op.create_index(op.f(_name(table, col)), table, [col], unique=False, postgresql_using="brin")
    op.drop_index(op.f(_name(_LINES, "action_id")), table_name=_LINES)
    t = "recon_paid_out_actions"
    op.create_table(
        t,
        sa.Column("action_id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("action_id", name=op.f(f"pk_{t}")),
        comment="Action ids with at least one report line in a payout (unsettled-capture check).",
    )
    # Filled from the lines already staged, so the next incremental run finds what is paid out.
    op.execute(
        f"INSERT INTO {t} (action_id) SELECT DISTINCT l.action_id FROM {_LINES} l "
        f"JOIN {_PAYOUTS} p ON p.processed_on = l.processed_on AND p.line_key = l.line_key"
    )


def downgrade() -> None:
    op.drop_table("recon_paid_out_actions")
    op.create_index(op.f(_name(_LINES, "action_id")), _LINES, ["action_id"], unique=False)
    for table, col in _BRIN:
        op.drop_index(op.f(_name(table, col)), table_name=table)
        op.create_index(op.f(_name(table, col)), table, [col], unique=False)
