"""Staging layer: one typed row per business key, merged by upsert so any load can be repeated.

No foreign keys between staged tables: feeds arrive in any order, and a missing parent is a
reconciliation finding, not a load error (docs/warehouse.md).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from checkout_freshportal.checkout.statuses import BALANCE_FIELDS
from checkout_freshportal.warehouse.schema.base import bookkeeping, currency, metadata, money
from checkout_freshportal.warehouse.types import Id, UTCDateTime, json_type

# ------------------------------------------------------------------------------------- staging

PAYMENT_BALANCES = BALANCE_FIELDS

stg_payments = sa.Table(
    "stg_payments",
    metadata,
    sa.Column("payment_id", Id(), primary_key=True),
    sa.Column("status", sa.Text(), nullable=False),  # Title Case enum ("Partially Captured")
    sa.Column("requested_on", UTCDateTime(), nullable=False),
    sa.Column("processed_on", UTCDateTime(), nullable=True),
    sa.Column("expires_on", UTCDateTime(), nullable=True),
    currency(nullable=False),
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
    *bookkeeping(),
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
    currency(),
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
    *bookkeeping(),
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
    currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("received_on", UTCDateTime(), nullable=True),
    sa.Column("last_update", UTCDateTime(), nullable=False),
    sa.Column("evidence_required_by", UTCDateTime(), nullable=True),
    sa.Column("entity_id", Id(), nullable=True),
    sa.Column("sub_entity_id", Id(), nullable=True),
    sa.Column("processing_channel_id", Id(), nullable=True),
    sa.Column("is_ce_candidate", sa.Boolean(), nullable=True),
    *bookkeeping(),
    sa.Index(None, "payment_id"),
    sa.Index(None, "last_update"),
    comment="One row per dispute (chargeback).",
)

stg_financial_actions = sa.Table(
    "stg_financial_actions",
    metadata,
    # Key (docs/warehouse.md "The staging key of report lines"): processed_on leads so a new
    # file's keys land at the right edge of the btree; line_key is the xxh3-128 of the line's
    # identity, its processed_on instant and its occurrence in the file, so identical lines are
    # all kept and a line that comes again in an overlapping file finds its row.
    sa.Column("processed_on", UTCDateTime(), primary_key=True),
    sa.Column("line_key", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column("occurrence", sa.Integer(), nullable=False),  # 1, 2, ... among identical lines of a file
    sa.Column("action_id", Id(), nullable=False),
    sa.Column("action_type", sa.Text(), nullable=False),
    sa.Column("breakdown_type", sa.Text(), nullable=False),
    sa.Column("payment_id", Id(), nullable=True),  # pay_, vau_, nt_, or none (entity-level lines)
    sa.Column("requested_on", UTCDateTime(), nullable=True),
    sa.Column("client_entity_id", Id(), nullable=True),
    sa.Column("sub_entity_id", Id(), nullable=True),
    sa.Column("processing_channel_id", Id(), nullable=True),
    sa.Column("merchant_category_code", sa.Text(), nullable=True),
    sa.Column("currency_account_id", Id(), nullable=True),
    sa.Column("reference", sa.Text(), nullable=True),
    sa.Column("payment_method", sa.Text(), nullable=True),
    sa.Column("card_type", sa.Text(), nullable=True),
    sa.Column("card_category", sa.Text(), nullable=True),
    sa.Column("issuer_country", sa.Text(), nullable=True),
    sa.Column("entity_country", sa.Text(), nullable=True),
    sa.Column("region", sa.Text(), nullable=True),
    sa.Column("mid", sa.Text(), nullable=True),
    sa.Column("response_code", sa.Text(), nullable=True),
    sa.Column("response_description", sa.Text(), nullable=True),
    sa.Column("fee_detail", sa.Text(), nullable=True),
    sa.Column("fx_rate_applied", sa.Text(), nullable=True),  # a rate, not money: kept exact as text
    sa.Column("fx_trade_id", Id(), nullable=True),
    currency("holding_currency", nullable=False),
    *money("holding_amount", exact=True, nullable=False),
    currency("processing_currency"),
    *money("processing_amount", exact=True),
    currency("tax_currency"),  # Entity Country Tax Currency
    sa.Column("tax_fx_rate", sa.Text(), nullable=True),
    *money("tax_amount", exact=True),
    sa.Column("source_file_id", Id(), nullable=False),
    # xxh3 of the line's other values (report_convert.content_hashes): a line arriving again is
    # compared by this alone; NULL for lines staged before migration 0007 (compared in full)
    sa.Column("content_hash", sa.BigInteger(), nullable=True),
    *bookkeeping(),
    # No index beyond the key: reconciliation joins set-based (docs/warehouse.md). The payout id
    # of a line is not here but in stg_financial_action_payouts (see there).
    comment="One row per financial-action report line (report CSVs), identical lines included.",
)

stg_financial_action_payouts = sa.Table(
    "stg_financial_action_payouts",
    metadata,
    # The payout a report line was paid out in, one row per line of stg_financial_actions that a
    # by-payout file has named (docs/warehouse.md "Payout ids"). Kept apart from the line because
    # a line usually arrives first in a date-range file without one and again in a by-payout file
    # with one: recording that is a narrow insert here instead of rewriting the whole line. A file
    # without a payout id never touches this table, so a payout id is never erased.
    sa.Column("processed_on", UTCDateTime(), primary_key=True),
    sa.Column("line_key", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column("payout_id", Id(), nullable=False),
    sa.Column("source_file_id", Id(), nullable=False),  # the file that named (or last changed) it
    *bookkeeping(),
    comment="The payout id of each financial-action report line a by-payout file named.",
)


def financial_action_lines() -> sa.Select[Any]:
    """Every staged financial-action line with its payout id (NULL until a by-payout file names
    one): what reconciliation and reports read instead of either table alone."""
    fa, p = stg_financial_actions, stg_financial_action_payouts
    on = sa.and_(p.c.processed_on == fa.c.processed_on, p.c.line_key == fa.c.line_key)
    return sa.select(*fa.c, p.c.payout_id).select_from(fa.outerjoin(p, on))


stg_payouts = sa.Table(
    "stg_payouts",
    metadata,
    sa.Column("payout_id", Id(), primary_key=True),
    sa.Column("client_entity_id", Id(), nullable=True),
    sa.Column("sub_entity_id", Id(), nullable=True),
    sa.Column("currency_account_id", Id(), nullable=True),
    currency(nullable=False),  # the holding currency
    sa.Column("payout_date", sa.Date(), nullable=False),
    *money("payout_amount", exact=True, nullable=False),
    *money("merchant_payout_fees", exact=True),
    *money("payments", exact=True),
    *money("refunds", exact=True),
    *money("chargebacks", exact=True),
    *money("card_payment_interchange_fees", exact=True),
    *money("card_payment_scheme_fees", exact=True),
    *money("processing_fees", exact=True),
    *money("pay_to_cards", exact=True),
    sa.Column("period_start", UTCDateTime(), nullable=True),
    sa.Column("period_end", UTCDateTime(), nullable=True),
    sa.Column("source_file_id", Id(), nullable=False),
    *bookkeeping(),
    sa.Index(None, "payout_date"),
    comment="One row per payout (Payouts report CSVs).",
)


# ---- FreshPortal orders and payment-link intents
# Written by sync/payment_links/service.py (DAG freshportal_payment_requests); docs/payment-requests.md.

stg_orders = sa.Table(
    "stg_orders",
    metadata,
    sa.Column("order_id", Id(), primary_key=True),  # FreshPortal order id (kept as text)
    sa.Column("order_number", sa.Text(), nullable=False),  # = Checkout.com payment reference
    sa.Column("status", sa.Text(), nullable=False),  # FreshPortal order status code
    sa.Column("order_date", sa.Date(), nullable=True),
    sa.Column("delivery_date", sa.Date(), nullable=True),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    currency(nullable=False),
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
    currency("payment_currency"),
    sa.Column("amount_paid_minor", sa.BigInteger(), nullable=True),
    sa.Column("amount_refunded_minor", sa.BigInteger(), nullable=True),
    sa.Column("refund_state", sa.Text(), nullable=True),
    sa.Column("payment_link_id", Id(), nullable=True),
    sa.Column("payment_link_url", sa.Text(), nullable=True),
    sa.Column("psp_payment_id", Id(), nullable=True),
    sa.Column("payout_reference", sa.Text(), nullable=True),
    sa.Column("payment_sequence", sa.BigInteger(), nullable=True),
    sa.Column("payment_updated_at", UTCDateTime(), nullable=True),
    *bookkeeping(),
    sa.Index(None, "order_number"),
    sa.Index(None, "status"),
    comment="One row per FreshPortal order, from the changed-orders feed (no personal data).",
)


# ---- payment status, outbox, declines
# Written by sync/events and sync/status_push (DAG checkout_events); docs/status-machine.md.

stg_refund_requests = sa.Table(
    "stg_refund_requests",
    metadata,
    sa.Column("refund_request_id", Id(), primary_key=True),  # FreshPortal's id (kept as text)
    sa.Column("order_id", Id(), nullable=False),
    sa.Column("order_number", sa.Text(), nullable=True),
    currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),  # FreshPortal's reason code, no free text
    sa.Column("fp_status", sa.Text(), nullable=False),  # FreshPortal's own status code
    sa.Column("state", sa.Text(), nullable=False),  # ours: requested / processing / succeeded / ...
    sa.Column("requested_at", UTCDateTime(), nullable=True),
    sa.Column("fp_updated_at", UTCDateTime(), nullable=True),
    sa.Column("fp_version", sa.BigInteger(), nullable=True),
    sa.Column("outcome_status", sa.Text(), nullable=True),  # the outcome FreshPortal holds
    sa.Column("outcome_refund_id", Id(), nullable=True),  # the Checkout.com action id we wrote
    *bookkeeping(),
    sa.Index(None, "order_id"),
    comment="One row per FreshPortal refund request, from the refund-requests feed.",
)


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
    currency(),
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
    *bookkeeping(),
    sa.Index(None, "order_id"),
    sa.Index(None, "reference"),
    comment="Derived payment status per payment (status state machine), with its FreshPortal status.",
)


#: Staged tables and their business keys (what ``upsert`` conflicts on).
STAGED_KEYS: dict[str, tuple[str, ...]] = {
    "stg_payments": ("payment_id",),
    "stg_payment_actions": ("action_id",),
    "stg_disputes": ("dispute_id",),
    "stg_financial_actions": ("processed_on", "line_key"),
    "stg_financial_action_payouts": ("processed_on", "line_key"),
    "stg_payouts": ("payout_id",),
    "stg_orders": ("order_id",),
    "stg_payment_status": ("payment_id",),
    "stg_refund_requests": ("refund_request_id",),
}

#: Columns a NULL from a later, less complete source must not erase. ``upsert`` uses these when
#: the caller does not say otherwise: a summary action (GET /payments/{id}) carries no amount or
#: date.
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
    #: A payment snapshot that does not state a balance (``GET /payments/{id}`` often has no
    #: ``balances``, a search item only some fields) says nothing about it: the stored one stays.
    #: A stated balance still overwrites; a payment never seen with balances keeps NULL.
    "stg_payments": tuple(f"{b}_minor" for b in PAYMENT_BALANCES),
    #: A snapshot's action summary carries no amount, date or event id: it must not erase a webhook's.
    "ops_payment_declines": (
        "event_id",
        "action_id",
        "response_code",
        "response_summary",
        "amount_minor",
        "currency",
        "occurred_at",
    ),
}
