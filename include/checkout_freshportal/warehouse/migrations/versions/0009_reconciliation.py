"""Reconciliation: runs, matches, exceptions and their audit trail, run totals, data-quality results.

Written by the ``reconciliation`` DAG (docs/reconciliation.md). Self-contained like 0001 (no
import of ``schema``): a migration is a snapshot.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: A snapshot of schema/recon.py INPUT_INDEXES (a migration never imports the schema).
_INPUT_INDEXES: tuple[tuple[str, str], ...] = (
    ("stg_orders", "updated_at"),
    ("stg_orders", "customer_email_hash"),
    ("stg_payments", "updated_at"),
    ("stg_payment_actions", "updated_at"),
    ("stg_disputes", "updated_at"),
    ("stg_financial_actions", "updated_at"),
    ("stg_financial_actions", "action_id"),
    ("stg_financial_action_payouts", "updated_at"),
    ("stg_financial_action_payouts", "payout_id"),
    ("stg_refund_requests", "updated_at"),
    ("stg_refund_requests", "outcome_refund_id"),
    ("stg_payment_status", "updated_at"),
    ("sync_money_intents", "updated_at"),
    ("sync_money_intents", "action_id"),
)


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _big(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _json(name: str) -> sa.Column:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)


def _cur(name: str = "currency", nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(3), nullable=nullable)


def upgrade() -> None:
    t = "recon_runs"
    op.create_table(
        t,
        _text("run_id", False),
        _ts("as_of", False),
        _text("mode", False),
        _text("status", False),
        _ts("started_at", False),
        _ts("finished_at"),
        _ts("inputs_watermark"),
        _text("dq_status"),
        _json("counts"),
        _text("report_path"),
        _text("error"),
        sa.PrimaryKeyConstraint("run_id", name=op.f(f"pk_{t}")),
        comment="One row per reconciliation run.",
    )
    op.create_index(op.f(f"ix_{t}_as_of"), t, ["as_of"], unique=False)

    t = "recon_matches"
    op.create_table(
        t,
        _text("order_id", False),
        _text("payment_id", False),
        _text("rule", False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        _text("match_group", False),
        _text("order_number"),
        _cur(),
        _ts("first_matched_at", False),
        _ts("updated_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("order_id", "payment_id", name=op.f(f"pk_{t}")),
        comment="Which payment belongs to which order, by which rule; suggestions are never confirmed.",
    )
    op.create_index(op.f(f"ix_{t}_payment_id"), t, ["payment_id"], unique=False)

    t = "recon_exceptions"
    op.create_table(
        t,
        _text("exception_id", False),
        _text("exception_key", False),
        _text("kind", False),
        _text("severity", False),
        _text("status", False),
        _text("order_id"),
        _text("order_number"),
        _text("payment_id"),
        _text("payout_id"),
        _text("refund_request_id"),
        _text("dispute_id"),
        _text("action_id"),
        _cur(),
        _big("expected_minor"),
        _big("actual_minor"),
        _text("detail"),
        _ts("first_seen_at", False),
        _ts("last_seen_at", False),
        _ts("resolved_at"),
        _ts("explained_at"),
        _text("explained_by"),
        _text("explanation"),
        sa.Column("state_version", sa.Integer(), nullable=False),
        sa.Column("notified_version", sa.Integer(), nullable=True),
        _ts("notified_at"),
        _text("note_error"),
        _ts("updated_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("exception_id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("exception_key", name=op.f(f"uq_{t}_exception_key")),
        comment="Discrepancies found by reconciliation, kept across runs (open / resolved / explained).",
    )
    op.create_index(op.f(f"ix_{t}_kind_status"), t, ["kind", "status"], unique=False)
    for col in ("order_id", "payment_id", "payout_id"):
        op.create_index(op.f(f"ix_{t}_{col}"), t, [col], unique=False)

    t = "recon_exception_events"
    op.create_table(
        t,
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _text("exception_id", False),
        _ts("at", False),
        _text("actor", False),
        _text("action", False),
        _text("from_status"),
        _text("to_status", False),
        _text("note"),
        _text("run_id"),
        sa.PrimaryKeyConstraint("event_id", name=op.f(f"pk_{t}")),
        comment="Audit trail of every status change of an exception, append-only.",
    )
    op.create_index(op.f(f"ix_{t}_exception_id"), t, ["exception_id"], unique=False)

    t = "recon_run_totals"
    op.create_table(
        t,
        _text("run_id", False),
        _cur("currency", False),
        _ts("as_of", False),
        _big("orders", False),
        _big("orders_matched", False),
        _big("ordered_minor", False),
        _big("matched_minor", False),
        _big("captured_minor", False),
        _big("refunded_minor", False),
        _big("chargeback_minor", False),
        _big("open_exceptions", False),
        sa.PrimaryKeyConstraint("run_id", "currency", name=op.f(f"pk_{t}")),
        comment="Headline figures per run and currency: the history behind 'match rate over time'.",
    )

    t = "recon_dq_results"
    op.create_table(
        t,
        _text("run_id", False),
        _text("check_name", False),
        _text("table_name", False),
        _text("severity", False),
        sa.Column("success", sa.Boolean(), nullable=False),
        _big("unexpected_count"),
        _text("observed"),
        _json("details"),
        _ts("checked_at", False),
        sa.PrimaryKeyConstraint("run_id", "check_name", name=op.f(f"pk_{t}")),
        comment="Great Expectations results per run and check.",
    )

    t = "recon_order_invoices"
    op.create_table(
        t,
        _text("invoice_number", False),
        _text("order_id", False),
        sa.PrimaryKeyConstraint("invoice_number", "order_id", name=op.f(f"pk_{t}")),
        comment="Invoice numbers of orders, for matching payments that list invoices (rule R3).",
    )
    op.create_index(op.f(f"ix_{t}_order_id"), t, ["order_id"], unique=False)

    t = "recon_order_facts"
    op.create_table(
        t,
        _text("order_id", False),
        _cur(),
        _big("amount_minor", False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        _big("captured_minor", False),
        _big("refunded_minor", False),
        _big("chargeback_minor", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("order_id", name=op.f(f"pk_{t}")),
        comment="Per confirmed order: the money reconciliation found for it (source of recon_run_totals).",
    )

    # Indexes on the inputs (incremental runs; schema/recon.py INPUT_INDEXES).
    for table, col in _INPUT_INDEXES:
        op.create_index(op.f(f"ix_{table}_{col}"), table, [col], unique=False)


def downgrade() -> None:
    for table, col in _INPUT_INDEXES:
        op.drop_index(op.f(f"ix_{table}_{col}"), table_name=table)
    for t in (
        "recon_order_facts",
        "recon_order_invoices",
        "recon_dq_results",
        "recon_run_totals",
        "recon_exception_events",
        "recon_exceptions",
        "recon_matches",
        "recon_runs",
    ):
        op.drop_table(t)
