"""Payout ids of report lines in their own table, content hashes, and xxh3 line keys.

A line usually arrives first in a date-range file without a payout id and again in a by-payout
file with one. Recording that by updating ``stg_financial_actions.payout_id`` rewrote every such
line whole (about 470 bytes, a new row version and index entries each); a narrow row in
``stg_financial_action_payouts`` costs a fraction (docs/warehouse.md "Payout ids"). Existing
payout ids move there; ``stg_financial_actions`` loses the column and its partial index.
``raw_report_files`` gains ``payouts_assigned`` (lines given a payout id by that file).
``stg_financial_actions`` gains ``content_hash`` (docs/warehouse.md "Content hash"): NULL for the
lines already staged, which are then compared in full when they arrive again. ``line_key``
becomes the xxh3-128 hash of the same identity plus the ``processed_on`` instant, and the
occurrence (md5 cost ten times as much on every line loaded; the instant numbers copies of one
identity at different times apart, docs/warehouse.md); staged lines and their payout ids are
re-keyed here, and back to md5 on downgrade.

Self-contained like 0001 (no import of the library).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op
from xxhash import xxh3_128_hexdigest

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FA = "stg_financial_actions"
PAYOUTS = "stg_financial_action_payouts"
COLUMNS = "processed_on, line_key, payout_id, source_file_id, first_seen_at, updated_at, source"
BATCH = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IDENTITY = (
    "action_id",
    "action_type",
    "breakdown_type",
    "holding_currency",
    "holding_amount_e8",
    "processing_currency",
    "processing_amount_e8",
    "tax_currency",
    "tax_amount_e8",
)


def _identity(row: Any, occurrence: int, *, with_instant: bool) -> bytes:
    parts = ["" if row[c] is None else str(row[c]) for c in IDENTITY]
    if with_instant:  # UTC microseconds since the epoch (SQLite hands back UTC without offset)
        instant = row["processed_on"]
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        parts.append(str((instant - EPOCH) // timedelta(microseconds=1)))
    return "\x1f".join((*parts, str(occurrence))).encode()


def line_key(row: Any, occurrence: int) -> str:
    """The loader's key function as of this revision (report_convert.line_key of identity_of):
    xxh3-128 of the identity, the processed_on instant and the occurrence."""
    return xxh3_128_hexdigest(_identity(row, occurrence, with_instant=True))


def md5_line_key(row: Any, occurrence: int) -> str:
    """The key function of revision 0006: md5 of the identity and the occurrence."""
    return hashlib.md5(_identity(row, occurrence, with_instant=False), usedforsecurity=False).hexdigest()


def _rekey(conn: sa.Connection, key: Callable[[Any, int], str]) -> None:
    """Every line's key recomputed with ``key``, in both tables, through a mapping table filled
    in batches (SQLite has no hash function to do it in SQL)."""
    meta = sa.MetaData()
    fa = sa.Table(FA, meta, autoload_with=conn)
    rekey = sa.Table(
        "cfp_rekey_0007",
        meta,
        sa.Column("processed_on", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("old_key", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("new_key", sa.Uuid(as_uuid=False), nullable=False),
    )
    rekey.create(conn)
    result = conn.execute(
        sa.select(
            fa.c.processed_on, fa.c.line_key, fa.c.occurrence, *[fa.c[c] for c in IDENTITY]
        ).execution_options(yield_per=BATCH)
    )
    for part in result.partitions(BATCH):
        conn.execute(
            sa.insert(rekey),
            [
                {
                    "processed_on": r.processed_on,
                    "old_key": r.line_key,
                    "new_key": key(r._mapping, r.occurrence),
                }
                for r in part
            ],
        )
    for name in (FA, PAYOUTS):
        conn.execute(
            sa.text(
                f"UPDATE {name} SET line_key = (SELECT r.new_key FROM cfp_rekey_0007 AS r "
                f"WHERE r.processed_on = {name}.processed_on AND r.old_key = {name}.line_key) "
                f"WHERE EXISTS (SELECT 1 FROM cfp_rekey_0007 AS r "
                f"WHERE r.processed_on = {name}.processed_on AND r.old_key = {name}.line_key)"
            )
        )
    rekey.drop(conn)


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
    _rekey(op.get_bind(), line_key)
    op.drop_index(op.f("ix_stg_financial_actions_payout_id"), table_name=FA)
    with op.batch_alter_table(FA) as batch:
        batch.drop_column("payout_id")
        batch.add_column(sa.Column("content_hash", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("raw_report_files") as batch:
        batch.add_column(sa.Column("payouts_assigned", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """md5 keys again (0006's loader must find these lines), payout ids back into the lines."""
    _rekey(op.get_bind(), md5_line_key)
    with op.batch_alter_table("raw_report_files") as batch:
        batch.drop_column("payouts_assigned")
    with op.batch_alter_table(FA) as batch:
        batch.drop_column("content_hash")
        batch.add_column(sa.Column("payout_id", sa.Text(), nullable=True))
    op.execute(
        f"UPDATE {FA} SET payout_id = (SELECT p.payout_id FROM {PAYOUTS} AS p "
        f"WHERE p.processed_on = {FA}.processed_on AND p.line_key = {FA}.line_key)"
    )
    _payout_index()
    op.drop_table(PAYOUTS)
