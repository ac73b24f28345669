"""Operations layer: what operators and finance look at when a payment goes wrong."""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema.base import bookkeeping, currency, metadata
from checkout_freshportal.warehouse.types import Id, UTCDateTime, json_type

ops_payment_declines = sa.Table(
    "ops_payment_declines",
    metadata,
    sa.Column("decline_id", Id(), primary_key=True),  # the action id, else the event id
    sa.Column("payment_id", Id(), nullable=False),
    # payment_declined | authentication_failed | capture_declined | void_declined | refund_declined
    # | increment_declined | expired | canceled
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("event_id", Id(), nullable=True),
    sa.Column("action_id", Id(), nullable=True),
    sa.Column("response_code", sa.Text(), nullable=True),
    sa.Column("response_summary", sa.Text(), nullable=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=True),
    currency(),
    sa.Column("occurred_at", UTCDateTime(), nullable=True),
    *bookkeeping(),
    sa.Index(None, "payment_id"),
    sa.Index(None, "occurred_at"),
    comment="Declines, expiries and declined captures/voids/refunds, with codes, for operations.",
)


# ---- quarantine: what ingestion could not read, kept aside so it never blocks the rest
# Written by sync/ingest (DAG checkout_ingest); listed and re-queued with `cfp quarantine`
# (docs/runbook-ingest.md).

ops_quarantine = sa.Table(
    "ops_quarantine",
    metadata,
    # "checkout.payments" | "checkout.disputes" | "checkout.reports" (a listing entry) |
    # "checkout.report_files" (one file of a report)
    sa.Column("source", sa.Text(), primary_key=True),
    sa.Column("item_id", Id(), primary_key=True),  # pay_..., dsp_..., rpt_..., file_...
    sa.Column("parent_id", Id(), nullable=True),  # a report file's report id
    # quarantined: retried by every run, never blocking it | parked: failed quarantine_attempts
    # times, no longer retried nor failing runs, counted in every run's result | requeued: an
    # operator asked for one more attempt | resolved: a later attempt read it (audit trail)
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),  # escaped, no card data, at most 2,000 chars
    sa.Column("error_class", sa.Text(), nullable=False),
    # Where the item's raw copy is: "raw_api_objects" (source, item_id, payload_sha256 below),
    # "raw_report_file_contents" (file_id = item_id) or "payload" (this row's payload column).
    sa.Column("raw_location", sa.Text(), nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=True),
    sa.Column("payload", json_type(), nullable=True),  # small items (a listing entry) verbatim
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("first_failed_at", UTCDateTime(), nullable=False),
    sa.Column("last_failed_at", UTCDateTime(), nullable=False),
    sa.Column("requeued_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("run_id", sa.Text(), nullable=True),  # the run that last tried it
    sa.Index(
        "ix_ops_quarantine_open",
        "source",
        "last_failed_at",
        postgresql_where=sa.text("state <> 'resolved'"),
        sqlite_where=sa.text("state <> 'resolved'"),
    ),
    comment="Objects, listing entries and report files ingestion could not read: stored raw, "
    "kept aside with the reason, retried by later runs without blocking them.",
)
