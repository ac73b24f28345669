"""Initial warehouse: raw API objects and report files, staged payments, actions, disputes,
financial actions and payouts, sync watermarks.

Self-contained on purpose (no import of ``schema``): a migration is a snapshot, and later edits
of the schema module must not change what this revision did. ``tests/warehouse/test_migrations``
proves that head equals ``schema.metadata``.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BALANCES = (
    "total_authorized",
    "total_voided",
    "available_to_void",
    "total_captured",
    "available_to_capture",
    "total_refunded",
    "available_to_refund",
)


def _json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _big(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _cur(name: str = "currency", nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(3), nullable=nullable)


def _exact(prefix: str, nullable: bool = True) -> list[sa.Column]:
    return [_big(f"{prefix}_e8", nullable), _big(f"{prefix}_minor", nullable)]


def _bookkeeping() -> list[sa.Column]:
    return [_ts("first_seen_at", False), _ts("updated_at", False), _text("source", False)]


def _index(table: str, *cols: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(cols)}"), table, list(cols), unique=False)


def upgrade() -> None:
    op.create_table(
        "raw_api_objects",
        _text("source", False),
        _text("object_id", False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        _ts("fetched_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("source", "object_id", "payload_sha256", name=op.f("pk_raw_api_objects")),
        comment="Every API object verbatim; a re-fetch of an unchanged object adds nothing.",
    )
    _index("raw_api_objects", "object_id")
    _index("raw_api_objects", "fetched_at")

    op.create_table(
        "raw_report_files",
        _text("file_id", False),
        _text("report_id", False),
        _text("report_type", False),
        _text("filename", False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _big("size_bytes", False),
        _text("content_encoding", False),
        _big("content_bytes", False),
        sa.Column("header", _json(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        _text("staged_table", False),
        sa.Column("staged_inserted", sa.Integer(), nullable=False),
        sa.Column("staged_updated", sa.Integer(), nullable=False),
        sa.Column("staged_unchanged", sa.Integer(), nullable=False),
        _text("load_method", False),
        _ts("loaded_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_raw_report_files")),
        comment="One row per report file loaded; the file's sha256 makes a reload a no-op.",
    )
    _index("raw_report_files", "report_id")

    op.create_table(
        "raw_report_file_contents",
        _text("file_id", False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("file_id", "part", name=op.f("pk_raw_report_file_contents")),
        comment="Each report file verbatim, compressed (raw_report_files.content_encoding); "
        "the parts in order concatenate to the compressed file.",
    )

    op.create_table(
        "raw_report_rows",
        _text("file_id", False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("row", _json(), nullable=False),
        _text("parse_error", False),
        sa.PrimaryKeyConstraint("file_id", "line_no", name=op.f("pk_raw_report_rows")),
        comment="The rejected lines of report files (tolerated by max_bad_share), verbatim as a JSON "
        "object of header -> text, with the reason.",
    )

    op.create_table(
        "stg_payments",
        _text("payment_id", False),
        _text("status", False),
        _ts("requested_on", False),
        _ts("processed_on"),
        _ts("expires_on"),
        _cur(nullable=False),
        _big("amount_minor", False),
        _big("amount_requested_minor"),
        *[_big(f"{b}_minor") for b in BALANCES],
        sa.Column("approved", sa.Boolean(), nullable=True),
        _text("reference"),
        _text("payment_type"),
        _text("response_code"),
        _text("response_summary"),
        _text("processing_channel_id"),
        _text("source_type"),
        _text("card_scheme"),
        _text("card_type"),
        sa.Column("card_bin", sa.String(8), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        _text("customer_id"),
        sa.Column("customer_email_hash", sa.String(64), nullable=True),
        sa.Column("metadata", _json(), nullable=True),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_stg_payments")),
        comment="One row per payment, as GET /payments/{id} or search last described it.",
    )
    _index("stg_payments", "requested_on")
    _index("stg_payments", "reference")
    _index("stg_payments", "status")

    op.create_table(
        "stg_payment_actions",
        _text("action_id", False),
        _text("payment_id", False),
        _text("action_type", False),
        _ts("processed_on"),
        _cur(),
        _big("amount_minor"),
        sa.Column("approved", sa.Boolean(), nullable=True),
        _text("status"),
        _text("response_code"),
        _text("response_summary"),
        _text("reference"),
        _text("authorization_type"),
        _text("acquirer_reference_number"),
        _text("acquirer_transaction_id"),
        sa.Column("metadata", _json(), nullable=True),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_stg_payment_actions")),
        comment="One row per gateway action of a payment.",
    )
    _index("stg_payment_actions", "payment_id")

    op.create_table(
        "stg_disputes",
        _text("dispute_id", False),
        _text("payment_id"),
        _text("payment_action_id"),
        _text("payment_reference"),
        _text("payment_method"),
        _text("payment_arn"),
        _text("category"),
        _text("status", False),
        _text("resolved_reason"),
        _text("reason_code"),
        _cur(nullable=False),
        _big("amount_minor", False),
        _ts("received_on"),
        _ts("last_update", False),
        _ts("evidence_required_by"),
        _text("entity_id"),
        _text("sub_entity_id"),
        _text("processing_channel_id"),
        sa.Column("is_ce_candidate", sa.Boolean(), nullable=True),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_stg_disputes")),
        comment="One row per dispute (chargeback).",
    )
    _index("stg_disputes", "payment_id")
    _index("stg_disputes", "last_update")

    op.create_table(
        "stg_financial_actions",
        _text("action_id", False),
        _text("breakdown_type", False),
        _text("payment_id"),
        _text("action_type", False),
        _text("payout_id"),
        _ts("processed_on", False),
        _ts("requested_on"),
        _text("reference"),
        _text("payment_method"),
        _text("card_type"),
        _text("region"),
        _text("fee_detail"),
        _text("client_entity_id"),
        _text("sub_entity_id"),
        _text("currency_account_id"),
        _text("processing_channel_id"),
        _cur("holding_currency", False),
        *_exact("holding_amount", False),
        _cur("processing_currency"),
        *_exact("processing_amount"),
        _cur("transaction_currency"),
        *_exact("transaction_amount"),
        _text("fx_rate_applied"),
        _text("source_file_id", False),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("action_id", "breakdown_type", name=op.f("pk_stg_financial_actions")),
        comment="One row per financial-action breakdown line (report CSVs).",
    )
    _index("stg_financial_actions", "payment_id")
    op.create_index(
        op.f("ix_stg_financial_actions_payout_id"),
        "stg_financial_actions",
        ["payout_id"],
        unique=False,
        postgresql_where=sa.text("payout_id IS NOT NULL"),
        sqlite_where=sa.text("payout_id IS NOT NULL"),
    )

    op.create_table(
        "stg_payouts",
        _text("payout_id", False),
        _text("client_entity_id"),
        _text("sub_entity_id"),
        _text("currency_account_id"),
        _cur(nullable=False),
        sa.Column("payout_date", sa.Date(), nullable=False),
        *_exact("payout_amount", False),
        *_exact("merchant_payout_fees"),
        *_exact("payments"),
        *_exact("refunds"),
        *_exact("chargebacks"),
        *_exact("card_payment_interchange_fees"),
        *_exact("card_payment_scheme_fees"),
        *_exact("processing_fees"),
        _ts("period_start"),
        _ts("period_end"),
        _text("source_file_id", False),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint("payout_id", name=op.f("pk_stg_payouts")),
        comment="One row per payout (Payouts report CSVs).",
    )
    _index("stg_payouts", "payout_date")

    op.create_table(
        "sync_watermarks",
        _text("source", False),
        _text("value", False),
        _ts("updated_at", False),
        _text("run_id"),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sync_watermarks")),
        comment="Cursor per source, written in the transaction that lands the rows it covers.",
    )


def downgrade() -> None:
    for table in (
        "sync_watermarks",
        "stg_payouts",
        "stg_financial_actions",
        "stg_disputes",
        "stg_payment_actions",
        "stg_payments",
        "raw_report_rows",
        "raw_report_file_contents",
        "raw_report_files",
        "raw_api_objects",
    ):
        op.drop_table(table)
