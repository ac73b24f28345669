"""Sync layer: cursors written with the data they cover, and the outboxes of everything sent out."""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema.base import currency, metadata
from checkout_freshportal.warehouse.types import Id, UTCDateTime, json_type

sync_watermarks = sa.Table(
    "sync_watermarks",
    metadata,
    sa.Column("source", sa.Text(), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    comment="Cursor per source, written in the transaction that lands the rows it covers.",
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
    currency(nullable=False),
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


sync_money_intents = sa.Table(
    "sync_money_intents",
    metadata,
    # Deterministic: "mi_" + sha256(request_key)[:24], so a rerun computes the same id; it is also
    # the ``reference`` sent to Checkout.com, so the action can be found by it when the answer
    # was lost (docs/refunds.md "Exactly once").
    sa.Column("intent_id", Id(), primary_key=True),
    sa.Column("kind", sa.Text(), nullable=False),  # refund | void | capture
    # What asked for the movement: "refund_request:<FreshPortal id>" | "release:<FreshPortal id>".
    # Unique: one money movement per request, whatever kind it became.
    sa.Column("request_key", sa.Text(), nullable=False),
    sa.Column("order_id", Id(), nullable=False),
    sa.Column("order_number", sa.Text(), nullable=True),
    sa.Column("payment_id", Id(), nullable=True),  # NULL when no payment was found (rejected)
    currency(nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),  # what was requested
    sa.Column("final", sa.Boolean(), nullable=True),  # captures: capture_type Final
    sa.Column("idempotency_key", sa.Text(), nullable=False),  # Cko-Idempotency-Key (deterministic)
    # pending -> sending -> accepted -> succeeded | declined; pending -> rejected (our validation,
    # nothing sent); sending -> failed (Checkout.com refused with a 4xx: nothing exists);
    # pending -> cancelled (FreshPortal withdrew the request before anything was sent).
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("reason_code", sa.Text(), nullable=True),  # stable code (docs/refunds.md#reason-codes)
    sa.Column("reason_text", sa.Text(), nullable=True),
    sa.Column("action_id", Id(), nullable=True),  # Checkout.com's act_..., recorded at the 202
    sa.Column("response_code", sa.Text(), nullable=True),  # a decline's code and summary
    sa.Column("response_summary", sa.Text(), nullable=True),
    sa.Column("outcome_amount_minor", sa.BigInteger(), nullable=True),  # what moved
    sa.Column("outcome_at", UTCDateTime(), nullable=True),  # Checkout.com's processed_on
    sa.Column("outcome_source", sa.Text(), nullable=True),  # webhook | actions
    sa.Column("fp_version", sa.BigInteger(), nullable=True),  # the request's version last seen
    sa.Column("requested_at", UTCDateTime(), nullable=True),  # FreshPortal's time of the request
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("first_attempted_at", UTCDateTime(), nullable=True),  # starts the idempotency window
    sa.Column("attempted_at", UTCDateTime(), nullable=True),
    sa.Column("accepted_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),  # class, status, codes, request id; no PII
    sa.Column("writeback_status", sa.Text(), nullable=True),  # processing | succeeded | failed
    sa.Column("written_back_status", sa.Text(), nullable=True),
    sa.Column("written_back_at", UTCDateTime(), nullable=True),
    sa.Column("writeback_attempts", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    # A run writing this intent's note holds it until then (captures; docs/captures.md): set by
    # the claim, cleared when the note is recorded, deferred or refused; a lease, so a run
    # killed outright does not hold it for ever.
    sa.Column("writeback_claimed_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("request_key"),
    sa.UniqueConstraint("idempotency_key"),
    sa.UniqueConstraint("action_id"),
    sa.Index(None, "state"),
    sa.Index(None, "payment_id"),
    sa.Index(None, "order_id"),
    comment="Outbox of refunds, voids and captures: one row per FreshPortal request, written "
    "before the POST; the action id is recorded the moment Checkout.com accepts it.",
)
