"""The warehouse schema (SQLAlchemy Core), the single source of truth for migrations.

Layers (docs/warehouse.md): ``raw_*`` keeps what came in verbatim and is append-only (report files
as their compressed bytes plus the lines that were rejected); ``stg_*``
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
    sa.Column("sha256", sa.String(64), nullable=False),  # of the file as it came in
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("content_encoding", sa.Text(), nullable=False),  # of raw_report_file_contents: "gzip"
    sa.Column("content_bytes", sa.BigInteger(), nullable=False),  # stored (compressed) size
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

raw_report_file_contents = sa.Table(
    "raw_report_file_contents",
    metadata,
    sa.Column("file_id", Id(), primary_key=True),
    sa.Column("part", sa.Integer(), primary_key=True),  # 0, 1, ... in file order
    sa.Column("content", sa.LargeBinary(), nullable=False),  # up to 1 MiB of the compressed stream
    comment="Each report file verbatim, compressed (raw_report_files.content_encoding); "
    "the parts in order concatenate to the compressed file.",
)

raw_report_rows = sa.Table(
    "raw_report_rows",
    metadata,
    sa.Column("file_id", Id(), primary_key=True),
    sa.Column("line_no", sa.Integer(), primary_key=True),  # header is line 1
    sa.Column("row", json_type(), nullable=False),  # {header: text} incl. unknown columns
    sa.Column("parse_error", sa.Text(), nullable=False),  # why the line was not staged
    comment="The rejected lines of report files (tolerated by max_bad_share), verbatim as a JSON "
    "object of header -> text, with the reason.",
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

# ---- webhook events (sidecar)

raw_webhook_events = sa.Table(
    "raw_webhook_events",
    metadata,
    # Checkout.com's event id (``evt_...``); a body without a readable id is stored under
    # "poison:" + sha256(body), so a resend of the same bad body is a duplicate too.
    sa.Column("event_id", Id(), primary_key=True),
    sa.Column("event_type", sa.Text(), nullable=True),  # "payment_captured", ...; NULL if poison
    sa.Column("subject_id", Id(), nullable=True),  # data.id: the payment (pay_) or dispute (dsp_)
    sa.Column("occurred_at", UTCDateTime(), nullable=True),  # created_on / timestamp of the envelope
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("body", sa.LargeBinary(), nullable=False),  # the exact bytes that were signed
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("key_index", sa.Integer(), nullable=True),  # which configured signature key matched
    sa.Column("is_poison", sa.Boolean(), nullable=False, default=False, server_default=sa.false()),
    sa.Column("poison_reason", sa.Text(), nullable=True),
    sa.Column("processed_at", UTCDateTime(), nullable=True),  # set by the checkout_events DAG
    sa.Column("process_attempts", sa.Integer(), nullable=False, default=0, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text(), nullable=True),
    # Partial: the consumer and the age metric only ever ask for the oldest unprocessed rows.
    sa.Index(
        "ix_raw_webhook_events_unprocessed",
        "received_at",
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    ),
    # Partial: poison rows are rare; the listing (`cfp sidecar poison`) and the gauge read only them.
    sa.Index(
        "ix_raw_webhook_events_poison",
        "received_at",
        postgresql_where=sa.text("is_poison"),
        sqlite_where=sa.text("is_poison"),
    ),
    sa.Index(None, "subject_id"),
    comment="Every signed webhook verbatim, committed before the 2xx; a resend adds nothing.",
)

# ---- FreshPortal orders and payment-link intents
# Written by sync/payment_requests.py (DAG freshportal_payment_requests); docs/payment-requests.md.

stg_orders = sa.Table(
    "stg_orders",
    metadata,
    sa.Column("order_id", Id(), primary_key=True),  # FreshPortal order id (kept as text)
    sa.Column("order_number", sa.Text(), nullable=False),  # = Checkout.com payment reference
    sa.Column("status", sa.Text(), nullable=False),  # FreshPortal order status code
    sa.Column("order_date", sa.Date(), nullable=True),
    sa.Column("delivery_date", sa.Date(), nullable=True),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    _currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    # Personal data stays in FreshPortal: the customer is its id, a masked and a hashed e-mail.
    sa.Column("customer_id", Id(), nullable=True),
    sa.Column("customer_email_masked", sa.Text(), nullable=True),  # "j***@example.nl"
    sa.Column("customer_email_hash", sa.String(64), nullable=True),  # sha256(lower(email))
    sa.Column("customer_country", sa.String(2), nullable=True),
    sa.Column("billing_country", sa.String(2), nullable=True),
    sa.Column("line_count", sa.Integer(), nullable=False),
    sa.Column("invoice_numbers", json_type(), nullable=True),  # ["INV-2024-000123", ...]
    sa.Column("fp_version", sa.BigInteger(), nullable=True),  # FreshPortal's own version
    sa.Column("fp_created_at", UTCDateTime(), nullable=True),
    sa.Column("fp_updated_at", UTCDateTime(), nullable=True),
    # The order's payment sub-resource as FreshPortal holds it (what was last written back).
    sa.Column("payment_status", sa.Text(), nullable=True),
    _currency("payment_currency"),
    sa.Column("amount_paid_minor", sa.BigInteger(), nullable=True),
    sa.Column("amount_refunded_minor", sa.BigInteger(), nullable=True),
    sa.Column("refund_state", sa.Text(), nullable=True),
    sa.Column("payment_link_id", Id(), nullable=True),
    sa.Column("payment_link_url", sa.Text(), nullable=True),
    sa.Column("psp_payment_id", Id(), nullable=True),
    sa.Column("payout_reference", sa.Text(), nullable=True),
    sa.Column("payment_sequence", sa.BigInteger(), nullable=True),
    sa.Column("payment_updated_at", UTCDateTime(), nullable=True),
    *_bookkeeping(),
    sa.Index(None, "order_number"),
    sa.Index(None, "status"),
    comment="One row per FreshPortal order, from the changed-orders feed (no personal data).",
)

sync_payment_link_intents = sa.Table(
    "sync_payment_link_intents",
    metadata,
    # Deterministic: "pli_" + sha256(order_id | order_version)[:24], so a rerun computes the same id.
    sa.Column("intent_id", Id(), primary_key=True),
    sa.Column("order_id", Id(), nullable=False),
    # "v<FreshPortal version>-<currency>-<amount_minor>[-r<renewal>]": the price the link asks
    # for, the order version it was first asked at, and which renewal of it this is.
    sa.Column("order_version", sa.Text(), nullable=False),
    sa.Column("fp_version", sa.BigInteger(), nullable=True),  # order version at the last attempt
    sa.Column("renewal_no", sa.Integer(), nullable=False),
    sa.Column("reference", sa.Text(), nullable=False),  # the order number
    _currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("expires_in", sa.Integer(), nullable=False),  # seconds asked of Checkout.com
    sa.Column("idempotency_key", sa.Text(), nullable=False),  # Cko-Idempotency-Key (deterministic)
    # pending -> creating -> created | failed; any of them -> superseded (see the docs).
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("superseded_by", Id(), nullable=True),
    sa.Column("superseded_reason", sa.Text(), nullable=True),  # price_changed, expired, in_doubt_expired
    sa.Column("link_id", Id(), nullable=True),
    sa.Column("link_url", sa.Text(), nullable=True),
    sa.Column("expires_on", UTCDateTime(), nullable=True),
    sa.Column("link_status", sa.Text(), nullable=True),  # Active | Payment Received | Expired
    sa.Column("link_checked_at", UTCDateTime(), nullable=True),
    sa.Column("payment_id", Id(), nullable=True),  # the payment that paid the link, once seen
    sa.Column("created_at", UTCDateTime(), nullable=False),  # the intent row
    sa.Column("attempted_at", UTCDateTime(), nullable=True),  # the last POST /payment-links
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("link_created_at", UTCDateTime(), nullable=True),  # the 201 was recorded
    sa.Column("last_error", sa.Text(), nullable=True),  # class, status, codes, request id; no PII
    sa.Column("writeback_status", sa.Text(), nullable=True),  # FreshPortal status to write
    sa.Column("written_back_status", sa.Text(), nullable=True),  # what was last written
    sa.Column("written_back_at", UTCDateTime(), nullable=True),
    sa.Column("writeback_attempts", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    sa.UniqueConstraint("order_id", "order_version"),
    sa.UniqueConstraint("idempotency_key"),
    sa.UniqueConstraint("link_id"),
    # At most one current (not superseded) intent per order: one live link per order version.
    sa.Index(
        "ux_sync_payment_link_intents_current",
        "order_id",
        unique=True,
        postgresql_where=sa.text("state <> 'superseded'"),
        sqlite_where=sa.text("state <> 'superseded'"),
    ),
    sa.Index(None, "state"),
    comment="Outbox of Checkout.com payment links: one row per order version, written before the POST.",
)

STAGED_KEYS["stg_orders"] = ("order_id",)

# ---- payment status, outbox, declines
# Written by sync/events.py and sync/status_push.py (DAG checkout_events); docs/status-machine.md.

stg_payment_status = sa.Table(
    "stg_payment_status",
    metadata,
    sa.Column("payment_id", Id(), primary_key=True),
    sa.Column("order_id", Id(), nullable=True),  # FreshPortal order; NULL until resolved
    sa.Column("reference", sa.Text(), nullable=True),  # the payment's reference = order number
    sa.Column("status", sa.Text(), nullable=True),  # Checkout.com vocabulary ("Partially Refunded")
    sa.Column("dispute_id", Id(), nullable=True),  # the dispute that decides the dispute state
    sa.Column("dispute_status", sa.Text(), nullable=True),  # "evidence_required", "lost", ...
    sa.Column("dispute_state", sa.Text(), nullable=True),  # Disputed | Chargeback | Dispute Won
    sa.Column("freshportal_status", sa.Text(), nullable=True),  # through the tenant mapping
    _currency(),
    sa.Column("amount_minor", sa.BigInteger(), nullable=True),
    *[sa.Column(f"{b}_minor", sa.BigInteger(), nullable=True) for b in PAYMENT_BALANCES],
    # Bumped whenever status, dispute, FreshPortal status or balances change; never goes down.
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("status_since", UTCDateTime(), nullable=True),  # earliest fact implying the status
    sa.Column("derived_from_event_at", UTCDateTime(), nullable=True),  # newest fact folded in
    sa.Column("truth_fetched_at", UTCDateTime(), nullable=True),  # last GET /payments/{id}
    sa.Column("problems", sa.Text(), nullable=True),  # gaps/contradictions the API did not settle
    sa.Column("events_applied", sa.Integer(), nullable=False),
    sa.Column("state", json_type(), nullable=False),  # the state machine's facts (no PII)
    *_bookkeeping(),
    sa.Index(None, "order_id"),
    sa.Index(None, "reference"),
    comment="Derived payment status per payment (status state machine), with its FreshPortal status.",
)

sync_status_outbox = sa.Table(
    "sync_status_outbox",
    metadata,
    sa.Column("order_id", Id(), primary_key=True),
    # Per order, monotonic: sent as FreshPortal's ``sequence`` so an older status never wins.
    sa.Column("version", sa.BigInteger(), primary_key=True),
    sa.Column("payment_id", Id(), nullable=False),  # the payment that speaks for the order
    sa.Column("freshportal_status", sa.Text(), nullable=False),
    sa.Column("checkout_status", sa.Text(), nullable=True),
    sa.Column("payload", json_type(), nullable=False),  # what is written (no PII)
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0, server_default=sa.text("0")),
    sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),  # backoff after a failure
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),  # set for delivered and superseded
    sa.Column("outcome", sa.Text(), nullable=True),  # delivered | superseded | rejected
    sa.Column("run_id", sa.Text(), nullable=True),
    # Partial: the push only ever reads the rows still waiting.
    sa.Index(
        "ix_sync_status_outbox_waiting",
        "order_id",
        postgresql_where=sa.text("outcome IS NULL"),
        sqlite_where=sa.text("outcome IS NULL"),
    ),
    comment="Outbox of FreshPortal payment-status writes: one row per order and version.",
)

ops_payment_declines = sa.Table(
    "ops_payment_declines",
    metadata,
    sa.Column("decline_id", Id(), primary_key=True),  # the action id, else the event id
    sa.Column("payment_id", Id(), nullable=False),
    # payment_declined | capture_declined | void_declined | refund_declined | expired | canceled
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("event_id", Id(), nullable=True),
    sa.Column("action_id", Id(), nullable=True),
    sa.Column("response_code", sa.Text(), nullable=True),
    sa.Column("response_summary", sa.Text(), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=True),
    _currency(),
    sa.Column("occurred_at", UTCDateTime(), nullable=True),
    *_bookkeeping(),
    sa.Index(None, "payment_id"),
    sa.Index(None, "occurred_at"),
    comment="Declines, expiries and declined captures/voids/refunds, with codes, for operations.",
)

STAGED_KEYS["stg_payment_status"] = ("payment_id",)
#: A snapshot's action summary carries no amount, date or event id: it must not erase a webhook's.
PRESERVE_NON_NULL["ops_payment_declines"] = (
    "event_id",
    "action_id",
    "response_code",
    "response_summary",
    "amount_minor",
    "currency",
    "occurred_at",
)
