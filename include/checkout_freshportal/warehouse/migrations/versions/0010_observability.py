"""Observability: failed task instances (``ops_task_failures``) and health check results
(``ops_health_checks``).

Written by the failure callback of every project task and by the ``pipeline_health`` DAG
(docs/observability.md). Self-contained like 0001 (no import of ``schema``): a migration is a
snapshot.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    t = "ops_task_failures"
    op.create_table(
        t,
        _text("dag_id", False),
        _text("run_id", False),
        _text("task_id", False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        _text("hostname"),
        _text("exception_class"),
        _text("message"),
        _text("log_url"),
        _ts("failed_at", False),
        _text("notify_channel"),
        _ts("notified_at"),
        _text("notify_error"),
        sa.PrimaryKeyConstraint(
            "dag_id", "run_id", "task_id", "map_index", "try_number", name=op.f(f"pk_{t}")
        ),
        comment="Every failed task instance of the project's DAGs, one row per try, with whether "
        "and how it was notified.",
    )
    op.create_index(op.f(f"ix_{t}_failed_at"), t, ["failed_at"], unique=False)

    t = "ops_health_checks"
    op.create_table(
        t,
        _text("run_id", False),
        _text("check_name", False),
        _text("status", False),
        sa.Column("measure", sa.BigInteger(), nullable=True),
        _text("value"),
        _text("threshold"),
        _text("detail"),
        _ts("checked_at", False),
        sa.PrimaryKeyConstraint("run_id", "check_name", name=op.f(f"pk_{t}")),
        comment="Results of the pipeline_health checks, one row per run and check.",
    )
    op.create_index(op.f(f"ix_{t}_check_name_checked_at"), t, ["check_name", "checked_at"], unique=False)


def downgrade() -> None:
    op.drop_table("ops_health_checks")
    op.drop_table("ops_task_failures")
