"""``sync_money_intents.writeback_claimed_at``: a note being written is claimed for a while.

A capture's answer goes to FreshPortal as a note, and FreshPortal's notes are not idempotent.
The claim on the intent row was a compare-and-set on ``writeback_attempts``: of two runs holding
the same snapshot only one wins. But a run whose snapshot was read *after* the winner's claim
(and before its note was recorded) saw the new count and won a claim of its own; both looked
for the note before either had posted it, and the order got two (CI, 2026-12-07: one order in
four of ``test_two_runs_at_the_same_moment_capture_each_release_once``). The claim now carries
its time: while it is younger than the lease no other run claims the row. A run that fails
before posting releases its claim at once; a run killed outright, or stopped while its POST may
be in flight, leaves it to lapse.

Self-contained (no import of ``schema``): a migration is a snapshot.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_money_intents", sa.Column("writeback_claimed_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_money_intents") as batch:
        batch.drop_column("writeback_claimed_at")
