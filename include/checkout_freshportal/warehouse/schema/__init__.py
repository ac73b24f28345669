"""The warehouse schema (SQLAlchemy Core), the single source of truth for migrations.

Layers (docs/warehouse.md): ``raw_*`` keeps what came in verbatim and is append-only (report files
as their compressed bytes plus the lines that were rejected); ``stg_*``
holds one typed row per business key, merged by :func:`checkout_freshportal.warehouse.upsert.upsert`
so a load can be repeated; ``sync_*`` holds cursors written in the transaction of the data and the
outboxes; ``ops_*`` what operators look at; ``recon_*`` what reconciliation found (matches,
exceptions and their audit trail, data-quality results, run totals). One module per layer;
this package assembles them on one ``metadata`` so Alembic and the code see a single schema.

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

from checkout_freshportal.warehouse.schema.base import (
    BOOKKEEPING_COLUMNS,
    LINEAGE_COLUMNS,
    NAMING_CONVENTION,
    metadata,
)
from checkout_freshportal.warehouse.schema.ops import ops_payment_declines, ops_quarantine
from checkout_freshportal.warehouse.schema.ops_health import ops_health_checks, ops_task_failures
from checkout_freshportal.warehouse.schema.raw import (
    raw_api_objects,
    raw_report_file_contents,
    raw_report_files,
    raw_report_rows,
    raw_webhook_events,
)
from checkout_freshportal.warehouse.schema.recon import (
    recon_dq_results,
    recon_exception_events,
    recon_exceptions,
    recon_matches,
    recon_run_totals,
    recon_runs,
)
from checkout_freshportal.warehouse.schema.stg import (
    PAYMENT_BALANCES,
    PRESERVE_NON_NULL,
    STAGED_KEYS,
    financial_action_lines,
    stg_disputes,
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_orders,
    stg_payment_actions,
    stg_payment_status,
    stg_payments,
    stg_payouts,
    stg_refund_requests,
)
from checkout_freshportal.warehouse.schema.sync import (
    sync_money_intents,
    sync_payment_link_intents,
    sync_status_outbox,
    sync_watermarks,
)

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "LINEAGE_COLUMNS",
    "NAMING_CONVENTION",
    "PAYMENT_BALANCES",
    "PRESERVE_NON_NULL",
    "STAGED_KEYS",
    "financial_action_lines",
    "metadata",
    "ops_health_checks",
    "ops_payment_declines",
    "ops_quarantine",
    "ops_task_failures",
    "raw_api_objects",
    "raw_report_file_contents",
    "raw_report_files",
    "raw_report_rows",
    "raw_webhook_events",
    "recon_dq_results",
    "recon_exception_events",
    "recon_exceptions",
    "recon_matches",
    "recon_run_totals",
    "recon_runs",
    "stg_disputes",
    "stg_financial_action_payouts",
    "stg_financial_actions",
    "stg_orders",
    "stg_payment_actions",
    "stg_payment_status",
    "stg_payments",
    "stg_payouts",
    "stg_refund_requests",
    "sync_money_intents",
    "sync_payment_link_intents",
    "sync_status_outbox",
    "sync_watermarks",
]
