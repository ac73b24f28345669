"""Raw layer: what came in, verbatim and append-only (API objects, report files, webhook bodies).

The audit trail and the source that ``stg_*`` can be rebuilt from (docs/warehouse.md).
"""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema.base import metadata
from checkout_freshportal.warehouse.types import Id, UTCDateTime, json_type

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
    # lines given a payout id they did not have (or a different one): stg_financial_action_payouts
    sa.Column("payouts_assigned", sa.Integer(), nullable=False, server_default="0"),
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
