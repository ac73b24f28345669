"""The warehouse schema (SQLAlchemy Core), the single source of truth for migrations.

Layers (docs/warehouse.md): ``raw_*`` keeps what came in verbatim and is append-only; ``stg_*``
holds one typed row per business key, merged by :func:`checkout_freshportal.warehouse.upsert.upsert`
so a load can be repeated; ``sync_*`` holds cursors written in the transaction of the data.

Conventions (docs/architecture.md):

* money is ``BIGINT``: ``*_minor`` (minor units of the currency column next to it) or ``*_e8``
  (exact major units x 1e8, for report amounts that carry up to 8 decimals); no float column;
* every staged table has ``first_seen_at`` (set once), ``updated_at`` (moves only when a value
  changed) and ``source`` (which feed last changed the row);
* no foreign keys between staged tables: feeds arrive in any order (a financial action may be
  staged before its payment), and the raw/staging layers are written by one loader each.
  Referential checks belong to reconciliation, where a missing parent is a finding, not an error.
"""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.types import Id, UTCDateTime, json_type

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
#: Columns that record lineage: written when a row changes, but a different value alone is not
#: a change (the same action seen in two overlapping report files is one unchanged row).
LINEAGE_COLUMNS = ("source", "source_file_id")


def _bookkeeping() -> list[sa.Column]:
    return [
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
    ]


def _money(prefix: str, *, exact: bool = False, nullable: bool = True) -> list[sa.Column]:
    cols = [sa.Column(f"{prefix}_minor", sa.BigInteger(), nullable=nullable)]
    if exact:
        cols.insert(0, sa.Column(f"{prefix}_e8", sa.BigInteger(), nullable=nullable))
    return cols


def _currency(name: str = "currency", *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(3), nullable=nullable)


# ------------------------------------------------------------------------------------- raw

raw_api_objects = sa.Table(
    "raw_api_objects",
    metadata,
    sa.Column("source", sa.Text(), primary_key=True),  # feed, e.g. "checkout.payments"
    sa.Column("object_id", Id(), primary_key=True),
    sa.Column("payload_sha256", sa.String(64), primary_key=True),  # of the canonical JSON
    sa.Column("payload", json_type(), nullable=False),
    sa.Column("fetched_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    sa.Index(None, "object_id"),
    sa.Index(None, "fetched_at"),
    comment="Every API object verbatim; a re-fetch of an unchanged object adds nothing.",
)

raw_report_files = sa.Table(
    "raw_report_files",
    metadata,
    sa.Column("file_id", Id(), primary_key=True),
    sa.Column("report_id", Id(), nullable=False),
    sa.Column("report_type", sa.Text(), nullable=False),
    sa.Column("filename", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("header", json_type(), nullable=False),  # column names in file order
    sa.Column("rows", sa.Integer(), nullable=False),  # data lines (header excluded)
    sa.Column("rows_rejected", sa.Integer(), nullable=False),
    sa.Column("staged_table", sa.Text(), nullable=False),
    sa.Column("staged_inserted", sa.Integer(), nullable=False),
    sa.Column("staged_updated", sa.Integer(), nullable=False),
    sa.Column("staged_unchanged", sa.Integer(), nullable=False),
    sa.Column("load_method", sa.Text(), nullable=False),  # "copy" (PostgreSQL) or "rows"
    sa.Column("loaded_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    sa.Index(None, "report_id"),
    comment="One row per report file loaded; the file's sha256 makes a reload a no-op.",
)

raw_report_rows = sa.Table(
    "raw_report_rows",
    metadata,
    sa.Column("file_id", Id(), primary_key=True),
    sa.Column("line_no", sa.Integer(), primary_key=True),  # header is line 1
    sa.Column("row", json_type(), nullable=False),  # {header: text} incl. unknown columns
    sa.Column("parse_error", sa.Text(), nullable=True),  # why the line was not staged
    # Partial: only rejected lines are indexed, so counting them after a load costs nothing.
    sa.Index(
        "ix_raw_report_rows_rejected",
        "file_id",
        "line_no",
        postgresql_where=sa.text("parse_error IS NOT NULL"),
        sqlite_where=sa.text("parse_error IS NOT NULL"),
    ),
    comment="Every CSV line verbatim as a JSON object of header -> text.",
)

# ------------------------------------------------------------------------------------- staging

PAYMENT_BALANCES = (
    "total_authorized",
    "total_voided",
    "available_to_void",
    "total_captured",
    "available_to_capture",
    "total_refunded",
    "available_to_refund",
)

stg_payments = sa.Table(
    "stg_payments",
    metadata,
    sa.Column("payment_id", Id(), primary_key=True),
    sa.Column("status", sa.Text(), nullable=False),  # Title Case enum ("Partially Captured")
    sa.Column("requested_on", UTCDateTime(), nullable=False),
    sa.Column("processed_on", UTCDateTime(), nullable=True),
    sa.Column("expires_on", UTCDateTime(), nullable=True),
    _currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("amount_requested_minor", sa.BigInteger(), nullable=True),
    *[sa.Column(f"{b}_minor", sa.BigInteger(), nullable=True) for b in PAYMENT_BALANCES],
    sa.Column("approved", sa.Boolean(), nullable=True),
    sa.Column("reference", sa.Text(), nullable=True),
    sa.Column("payment_type", sa.Text(), nullable=True),
    sa.Column("response_code", sa.Text(), nullable=True),
    sa.Column("response_summary", sa.Text(), nullable=True),
    sa.Column("processing_channel_id", Id(), nullable=True),
    sa.Column("source_type", sa.Text(), nullable=True),  # card, ideal, ...
    sa.Column("card_scheme", sa.Text(), nullable=True),
    sa.Column("card_type", sa.Text(), nullable=True),
    sa.Column("card_bin", sa.String(8), nullable=True),
    sa.Column("card_last4", sa.String(4), nullable=True),
    sa.Column("customer_id", Id(), nullable=True),
    sa.Column("customer_email_hash", sa.String(64), nullable=True),  # sha256(lower(email))
    sa.Column("metadata", json_type(), nullable=True),
    *_bookkeeping(),
    sa.Index(None, "requested_on"),
    sa.Index(None, "reference"),
    sa.Index(None, "status"),
    comment="One row per payment, as GET /payments/{id} or search last described it.",
)

stg_payment_actions = sa.Table(
    "stg_payment_actions",
    metadata,
    sa.Column("action_id", Id(), primary_key=True),
    sa.Column("payment_id", Id(), nullable=False),
    sa.Column("action_type", sa.Text(), nullable=False),  # Authorization, Capture, Refund, ...
    sa.Column("processed_on", UTCDateTime(), nullable=True),  # absent in summary actions
    _currency(),
    sa.Column("amount_minor", sa.BigInteger(), nullable=True),
    sa.Column("approved", sa.Boolean(), nullable=True),
    sa.Column("status", sa.Text(), nullable=True),  # only on search pseudo-actions
    sa.Column("response_code", sa.Text(), nullable=True),
    sa.Column("response_summary", sa.Text(), nullable=True),
    sa.Column("reference", sa.Text(), nullable=True),
    sa.Column("authorization_type", sa.Text(), nullable=True),
    sa.Column("acquirer_reference_number", sa.Text(), nullable=True),
    sa.Column("acquirer_transaction_id", sa.Text(), nullable=True),
    sa.Column("metadata", json_type(), nullable=True),
    *_bookkeeping(),
    sa.Index(None, "payment_id"),
    comment="One row per gateway action of a payment.",
)

stg_disputes = sa.Table(
    "stg_disputes",
    metadata,
    sa.Column("dispute_id", Id(), primary_key=True),
    sa.Column("payment_id", Id(), nullable=True),
    sa.Column("payment_action_id", Id(), nullable=True),
    sa.Column("payment_reference", sa.Text(), nullable=True),
    sa.Column("payment_method", sa.Text(), nullable=True),
    sa.Column("payment_arn", sa.Text(), nullable=True),
    sa.Column("category", sa.Text(), nullable=True),
    sa.Column("status", sa.Text(), nullable=False),  # snake_case enum ("evidence_required")
    sa.Column("resolved_reason", sa.Text(), nullable=True),
    sa.Column("reason_code", sa.Text(), nullable=True),
    _currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("received_on", UTCDateTime(), nullable=True),
    sa.Column("last_update", UTCDateTime(), nullable=False),
    sa.Column("evidence_required_by", UTCDateTime(), nullable=True),
    sa.Column("entity_id", Id(), nullable=True),
    sa.Column("sub_entity_id", Id(), nullable=True),
    sa.Column("processing_channel_id", Id(), nullable=True),
    sa.Column("is_ce_candidate", sa.Boolean(), nullable=True),
    *_bookkeeping(),
    sa.Index(None, "payment_id"),
    sa.Index(None, "last_update"),
    comment="One row per dispute (chargeback).",
)

stg_financial_actions = sa.Table(
    "stg_financial_actions",
    metadata,
    sa.Column("action_id", Id(), primary_key=True),
    sa.Column("breakdown_type", sa.Text(), primary_key=True),
    sa.Column("payment_id", Id(), nullable=True),  # adjustments (adj_) have none
    sa.Column("action_type", sa.Text(), nullable=False),
    sa.Column("payout_id", Id(), nullable=True),  # by-payout files only; never erased
    sa.Column("processed_on", UTCDateTime(), nullable=False),
    sa.Column("requested_on", UTCDateTime(), nullable=True),
    sa.Column("reference", sa.Text(), nullable=True),
    sa.Column("payment_method", sa.Text(), nullable=True),
    sa.Column("card_type", sa.Text(), nullable=True),
    sa.Column("region", sa.Text(), nullable=True),
    sa.Column("fee_detail", sa.Text(), nullable=True),
    sa.Column("client_entity_id", Id(), nullable=True),
    sa.Column("sub_entity_id", Id(), nullable=True),
    sa.Column("currency_account_id", Id(), nullable=True),
    sa.Column("processing_channel_id", Id(), nullable=True),
    _currency("holding_currency", nullable=False),
    *_money("holding_amount", exact=True, nullable=False),
    _currency("processing_currency"),
    *_money("processing_amount", exact=True),
    _currency("transaction_currency"),
    *_money("transaction_amount", exact=True),
    sa.Column("fx_rate_applied", sa.Text(), nullable=True),  # a rate, not money: kept exact as text
    sa.Column("source_file_id", Id(), nullable=False),
    *_bookkeeping(),
    sa.Index(None, "payment_id"),
    # Partial: date-range files (most lines) carry no payout id; lookups are always by a value.
    sa.Index(
        None,
        "payout_id",
        postgresql_where=sa.text("payout_id IS NOT NULL"),
        sqlite_where=sa.text("payout_id IS NOT NULL"),
    ),
    comment="One row per financial-action breakdown line (report CSVs).",
)

stg_payouts = sa.Table(
    "stg_payouts",
    metadata,
    sa.Column("payout_id", Id(), primary_key=True),
    sa.Column("client_entity_id", Id(), nullable=True),
    sa.Column("sub_entity_id", Id(), nullable=True),
    sa.Column("currency_account_id", Id(), nullable=True),
    _currency(nullable=False),  # the holding currency
    sa.Column("payout_date", sa.Date(), nullable=False),
    *_money("payout_amount", exact=True, nullable=False),
    *_money("merchant_payout_fees", exact=True),
    *_money("payments", exact=True),
    *_money("refunds", exact=True),
    *_money("chargebacks", exact=True),
    *_money("card_payment_interchange_fees", exact=True),
    *_money("card_payment_scheme_fees", exact=True),
    *_money("processing_fees", exact=True),
    sa.Column("period_start", UTCDateTime(), nullable=True),
    sa.Column("period_end", UTCDateTime(), nullable=True),
    sa.Column("source_file_id", Id(), nullable=False),
    *_bookkeeping(),
    sa.Index(None, "payout_date"),
    comment="One row per payout (Payouts report CSVs).",
)

# ------------------------------------------------------------------------------------- sync

sync_watermarks = sa.Table(
    "sync_watermarks",
    metadata,
    sa.Column("source", sa.Text(), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    comment="Cursor per source, written in the transaction that lands the rows it covers.",
)

#: Staged tables and their business keys (what ``upsert`` conflicts on).
STAGED_KEYS: dict[str, tuple[str, ...]] = {
    "stg_payments": ("payment_id",),
    "stg_payment_actions": ("action_id",),
    "stg_disputes": ("dispute_id",),
    "stg_financial_actions": ("action_id", "breakdown_type"),
    "stg_payouts": ("payout_id",),
}

#: Columns a NULL from a later, less complete source must not erase. ``upsert`` uses these when
#: the caller does not say otherwise: a summary action (GET /payments/{id}) carries no amount or
#: date, and a date-range report carries no payout id.
PRESERVE_NON_NULL: dict[str, tuple[str, ...]] = {
    "stg_payment_actions": (
        "processed_on",
        "currency",
        "amount_minor",
        "approved",
        "reference",
        "authorization_type",
        "acquirer_reference_number",
        "acquirer_transaction_id",
        "metadata",
    ),
    "stg_financial_actions": ("payout_id",),
}
