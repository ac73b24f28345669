"""Partial indexes on ``recon_matches`` for what an incremental reconciliation run looks up.

An incremental run seeds its scope with the payments of suggested (unconfirmed) matches and
splits the references of the payments matched by an invoice list (rule R3) into tokens. Both
are a few rows among a million, and both statements read every match to find them (0.44 s and
0.16 s of a 10.6 s rerun at 1,000,000 orders, ``auto_explain``). A partial index holds only
those rows, so a first run writing a million matches pays for a few thousand entries.

Self-contained (no import of ``schema``): a migration is a snapshot.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_T = "recon_matches"
#: name -> (PostgreSQL predicate, SQLite predicate)
_PARTIAL = {
    "ix_recon_matches_suggested": ("confirmed IS false", "confirmed IS 0"),
    "ix_recon_matches_invoice_reference": ("rule = 'invoice_reference'", "rule = 'invoice_reference'"),
}


def upgrade() -> None:
    for name, (pg, lite) in _PARTIAL.items():
        op.create_index(
            name, _T, ["payment_id"], unique=False, postgresql_where=sa.text(pg), sqlite_where=sa.text(lite)
        )


def downgrade() -> None:
    for name in _PARTIAL:
        op.drop_index(name, table_name=_T)
