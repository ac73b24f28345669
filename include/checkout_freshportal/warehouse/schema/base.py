"""Shared pieces of the warehouse schema: one MetaData, naming, and the column helpers every layer uses."""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

#: Columns the upsert manages itself: ``first_seen_at`` on insert, ``updated_at`` on change.
BOOKKEEPING_COLUMNS = ("first_seen_at", "updated_at")
#: Columns that record lineage, or derive from the row's other values: written when a row changes,
#: but a different value alone is not a change (the same action seen in two overlapping report
#: files is one unchanged row; a line staged before content hashes existed has none).
LINEAGE_COLUMNS = ("source", "source_file_id", "content_hash")


def bookkeeping() -> list[sa.Column]:
    return [
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
    ]


def money(prefix: str, *, exact: bool = False, nullable: bool = True) -> list[sa.Column]:
    cols = [sa.Column(f"{prefix}_minor", sa.BigInteger(), nullable=nullable)]
    if exact:
        cols.insert(0, sa.Column(f"{prefix}_e8", sa.BigInteger(), nullable=nullable))
    return cols


def currency(name: str = "currency", *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(3), nullable=nullable)
