"""``cfp_int8_sum``: a sum of bigint minor units that accumulates in a bigint (PostgreSQL).

PostgreSQL's ``sum(bigint)`` accumulates in a 128-bit (numeric-width) state allocated for every
group. Reconciliation groups a million matches by order and sums three amounts per group, so
that was three allocations per order: the hash table took 508 MB, and the grouping 1.39 s
(EXPLAIN ANALYZE on the benchmark data). The same sums in a by-value bigint state took 270 MB
and 0.99 s. ``int8pl`` raises "bigint out of range" on overflow (about 9.2e18 minor units), the
same loud failure SQLite's integer ``sum`` gives; nothing is ever rounded or wrapped.

SQLite needs nothing: its ``sum`` of integers is an integer. Self-contained (no import of
``schema``): a migration is a snapshot.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE AGGREGATE cfp_int8_sum (bigint) (SFUNC = int8pl, STYPE = bigint)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP AGGREGATE IF EXISTS cfp_int8_sum (bigint)")
