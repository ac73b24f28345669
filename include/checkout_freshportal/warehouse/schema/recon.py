"""Reconciliation layer: runs, matches, exceptions with their audit trail, data-quality results.

Written only by ``reconcile/`` (docs/reconciliation.md). Everything here is derived from the
staged and sync tables and can be rebuilt by a full run, except two things a person adds: the
"explained" mark of an exception (note and author) and the audit trail, which are never rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema import stg, sync  # noqa: F401  (tables the input indexes go on)
from checkout_freshportal.warehouse.schema.base import currency, metadata
from checkout_freshportal.warehouse.types import Id, UTCDateTime, json_type

recon_runs = sa.Table(
    "recon_runs",
    metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("as_of", UTCDateTime(), nullable=False),  # the instant due times are measured at
    sa.Column("mode", sa.Text(), nullable=False),  # full | incremental
    sa.Column("status", sa.Text(), nullable=False),  # running | succeeded | failed
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    # Newest updated_at among the inputs this run read: the next incremental run starts after it.
    sa.Column("inputs_watermark", UTCDateTime(), nullable=True),
    sa.Column("dq_status", sa.Text(), nullable=True),  # passed | warning | failed | skipped
    sa.Column("counts", json_type(), nullable=True),  # matches and exceptions by kind/status
    sa.Column("report_path", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),  # escaped, no PII
    sa.Index(None, "as_of"),
    comment="One row per reconciliation run.",
)

recon_matches = sa.Table(
    "recon_matches",
    metadata,
    sa.Column("order_id", Id(), primary_key=True),
    sa.Column("payment_id", Id(), primary_key=True),
    # reference | metadata_order_id | invoice_reference | suggested_customer_amount
    sa.Column("rule", sa.Text(), nullable=False),
    sa.Column("confirmed", sa.Boolean(), nullable=False),  # False: a suggestion a person confirms
    sa.Column("match_group", sa.Text(), nullable=False),  # orders and payments compared as one
    sa.Column("order_number", sa.Text(), nullable=True),
    currency(),  # the payment's
    sa.Column("first_matched_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),
    # payment_id: an incremental run's scope; no index on match_group (nothing looks a group up:
    # the report sorts all rows anyway) -- every index costs a sort of a million rows in a first
    # run (which builds the plain ones after its load, reconcile/sqlbits.indexes_rebuilt)
    sa.Index(None, "payment_id"),
    # the few rows an incremental run seeds its scope from (suggestions) or splits into invoice
    # tokens (R3): partial, so a run finds them without reading every match, and a first run
    # writes only those rows into them
    sa.Index(
        "ix_recon_matches_suggested",
        "payment_id",
        postgresql_where=sa.text("confirmed IS false"),
        sqlite_where=sa.text("confirmed IS 0"),
    ),
    sa.Index(
        "ix_recon_matches_invoice_reference",
        "payment_id",
        postgresql_where=sa.text("rule = 'invoice_reference'"),
        sqlite_where=sa.text("rule = 'invoice_reference'"),
    ),
    comment="Which payment belongs to which order, by which rule; suggestions are never confirmed.",
)

recon_exceptions = sa.Table(
    "recon_exceptions",
    metadata,
    sa.Column("exception_id", Id(), primary_key=True),  # exc_ + sha256(exception_key)[:24]
    sa.Column("exception_key", sa.Text(), nullable=False),  # kind:subject, stable across runs
    sa.Column("kind", sa.Text(), nullable=False),  # reconcile/kinds.py
    sa.Column("severity", sa.Text(), nullable=False),  # high | medium | low | info
    sa.Column("status", sa.Text(), nullable=False),  # open | resolved | explained
    sa.Column("order_id", Id(), nullable=True),
    sa.Column("order_number", sa.Text(), nullable=True),
    sa.Column("payment_id", Id(), nullable=True),
    sa.Column("payout_id", Id(), nullable=True),
    sa.Column("refund_request_id", Id(), nullable=True),
    sa.Column("dispute_id", Id(), nullable=True),
    sa.Column("action_id", Id(), nullable=True),
    currency(),
    sa.Column("expected_minor", sa.BigInteger(), nullable=True),
    sa.Column("actual_minor", sa.BigInteger(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),  # one sentence, no PII
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),  # as_of of the run that found it
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("explained_at", UTCDateTime(), nullable=True),
    sa.Column("explained_by", sa.Text(), nullable=True),
    sa.Column("explanation", sa.Text(), nullable=True),
    # +1 on every change of status: a FreshPortal note is owed while notified_version < it.
    sa.Column("state_version", sa.Integer(), nullable=False),
    sa.Column("notified_version", sa.Integer(), nullable=True),
    sa.Column("notified_at", UTCDateTime(), nullable=True),
    sa.Column("note_error", sa.Text(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=True),  # the run that last saw or changed it
    sa.UniqueConstraint("exception_key"),
    sa.Index(None, "kind", "status"),
    sa.Index(None, "order_id"),
    sa.Index(None, "payment_id"),
    sa.Index(None, "payout_id"),
    comment="Discrepancies found by reconciliation, kept across runs (open / resolved / explained).",
)

recon_exception_events = sa.Table(
    "recon_exception_events",
    metadata,
    sa.Column(
        "event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("exception_id", Id(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.Text(), nullable=False),  # "reconciliation" or the person (explain)
    sa.Column("action", sa.Text(), nullable=False),  # opened | resolved | reopened | explained | unexplained
    sa.Column("from_status", sa.Text(), nullable=True),
    sa.Column("to_status", sa.Text(), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("run_id", sa.Text(), nullable=True),
    sa.Index(None, "exception_id"),
    comment="Audit trail of every status change of an exception, append-only.",
)

recon_run_totals = sa.Table(
    "recon_run_totals",
    metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("as_of", UTCDateTime(), nullable=False),
    sa.Column("orders", sa.BigInteger(), nullable=False),  # confirmed orders in scope
    sa.Column("orders_matched", sa.BigInteger(), nullable=False),  # with a confirmed match
    sa.Column("ordered_minor", sa.BigInteger(), nullable=False),
    sa.Column("matched_minor", sa.BigInteger(), nullable=False),  # ordered amount of matched orders
    sa.Column("captured_minor", sa.BigInteger(), nullable=False),
    sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
    sa.Column("chargeback_minor", sa.BigInteger(), nullable=False),
    sa.Column("open_exceptions", sa.BigInteger(), nullable=False),
    comment="Headline figures per run and currency: the history behind 'match rate over time'.",
)

recon_dq_results = sa.Table(
    "recon_dq_results",
    metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("check_name", sa.Text(), primary_key=True),
    sa.Column("table_name", sa.Text(), nullable=False),
    sa.Column("severity", sa.Text(), nullable=False),  # critical | warning
    sa.Column("success", sa.Boolean(), nullable=False),
    sa.Column("unexpected_count", sa.BigInteger(), nullable=True),
    sa.Column("observed", sa.Text(), nullable=True),  # short, escaped: what was found
    sa.Column("details", json_type(), nullable=True),  # a few sample keys, no PII
    sa.Column("checked_at", UTCDateTime(), nullable=False),
    comment="Great Expectations results per run and check.",
)

# ---- helper tables of the engine (rebuilt by a full run, maintained by incremental ones)

recon_order_invoices = sa.Table(
    "recon_order_invoices",
    metadata,
    # One row per invoice number of an order (stg_orders.invoice_numbers exploded): rule R3 looks
    # up the tokens of a payment reference here by index instead of unpacking every order's JSON.
    sa.Column("invoice_number", sa.Text(), primary_key=True),
    sa.Column("order_id", Id(), primary_key=True),
    sa.Index(None, "order_id"),
    comment="Invoice numbers of orders, for matching payments that list invoices (rule R3).",
)

recon_order_facts = sa.Table(
    "recon_order_facts",
    metadata,
    # One row per confirmed order as the last run that looked at it saw it: the run totals are a
    # GROUP BY over this table, so an incremental run refreshes only the orders it recomputed.
    sa.Column("order_id", Id(), primary_key=True),
    currency(),  # the order's
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("matched", sa.Boolean(), nullable=False),  # same-ccy captured == amount, >= 1 match
    sa.Column("captured_minor", sa.BigInteger(), nullable=False),  # same-ccy, of its group
    sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
    sa.Column("chargeback_minor", sa.BigInteger(), nullable=False),  # lost disputes
    sa.Column("run_id", sa.Text(), nullable=True),
    comment="Per confirmed order: the money reconciliation found for it (source of recon_run_totals).",
)


recon_paid_out_actions = sa.Table(
    "recon_paid_out_actions",
    metadata,
    # Action ids with at least one financial-action line in a payout. A line's payout id is never
    # erased (stg_financial_action_payouts), so the set only grows: an incremental run adds the
    # actions of the lines and payout ids stamped since its watermark, and the settlement check
    # looks a capture up here by key instead of needing an index on the 2M-line table's
    # action_id, which every report file would pay for on load (docs/warehouse.md).
    sa.Column("action_id", Id(), primary_key=True),
    sa.Column("run_id", sa.Text(), nullable=True),  # the run that first saw it paid out
    comment="Action ids with at least one report line in a payout (unsettled-capture check).",
)


#: Indexes reconciliation needs on its inputs: ``updated_at`` finds what changed since the last
#: run (incremental runs); the others are join keys of the lookups an incremental run makes for a
#: few subjects (without them each lookup is a full scan). ``brin`` marks the report-line tables
#: that files are bulk-loaded into: on PostgreSQL a BRIN index there costs next to nothing per
#: loaded line (a summary per 128 pages, rows of one file are written together), where a btree
#: would be maintained row by row during the COPY (migration 0011 replaced 0009's btrees;
#: docs/warehouse.md). SQLite has no BRIN and gets a btree.
INPUT_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("stg_orders", "updated_at", "btree"),
    ("stg_orders", "customer_email_hash", "btree"),
    ("stg_orders", "confirmed_at", "btree"),  # orders whose payment fell due since the last run
    ("stg_payments", "updated_at", "btree"),
    ("stg_payment_actions", "updated_at", "btree"),
    ("stg_payment_actions", "processed_on", "btree"),  # captures whose settlement fell due
    ("stg_disputes", "updated_at", "btree"),
    ("stg_financial_actions", "updated_at", "brin"),
    ("stg_financial_action_payouts", "updated_at", "brin"),
    ("stg_financial_action_payouts", "payout_id", "brin"),
    ("stg_refund_requests", "updated_at", "btree"),
    ("stg_refund_requests", "outcome_refund_id", "btree"),
    ("stg_payment_status", "updated_at", "btree"),
    ("sync_money_intents", "updated_at", "btree"),
    ("sync_money_intents", "action_id", "btree"),
)

for _table, _col, _using in INPUT_INDEXES:
    _column = metadata.tables[_table].c[_col]
    if _using == "brin":
        sa.Index(f"ix_{_table}_{_col}", _column, postgresql_using="brin")
    else:
        sa.Index(f"ix_{_table}_{_col}", _column)
