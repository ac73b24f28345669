"""Incremental ingestion of Checkout.com data into the warehouse.

Four steps, each safe to repeat and to interrupt at any point:

* ``ingest_payments``: search windows from the watermark minus a bounded re-walk up to now minus
  a settle margin; each window lands (raw, staged payments, their actions) and moves the
  watermark in one transaction, so a run that dies between windows resumes where data stopped.
* ``ingest_disputes``: disputes by ``last_update``, with an overlap before the watermark.
* ``ingest_reports``: report files (financial actions, payouts) by report creation time; a file
  already loaded is neither downloaded nor loaded again.
* ``refresh_referenced_payments``: payments that newly staged financial actions or disputes refer
  to but that ``stg_payments``/``stg_payment_actions`` do not explain yet (a refund on a
  month-old payment, a chargeback) are read one by one. This closes the gap a creation-time
  search leaves for changes to payments older than the re-walk.

An item none of them can read (a payment, a dispute, a report listing entry or file) is kept raw
and quarantined, everything else lands, and the step then fails loudly (quarantine.py).

Backfills pass an explicit ``window``; they re-walk it idempotently and never move watermarks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.ingest.disputes import WM_DISPUTES, ingest_disputes
from checkout_freshportal.sync.ingest.explain import GATEWAY_ACTION_TYPES, actions_explain_balances
from checkout_freshportal.sync.ingest.payments import (
    WM_PAYMENTS,
    ingest_payments,
    payments_window,
    stage_payments,
)
from checkout_freshportal.sync.ingest.quarantine import QuarantinedItemsError, raise_for_quarantine
from checkout_freshportal.sync.ingest.refresh import (
    WM_REFRESH,
    referenced_payment_ids,
    refresh_referenced_payments,
)
from checkout_freshportal.sync.ingest.reports import WM_REPORTS, ingest_reports
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import CheckoutReader, StepResult
from checkout_freshportal.sync.ingest.windows import Window, clamp_to_search_horizon, scheduled_start
from checkout_freshportal.timeutil import utcnow

# The use case's facade: the DAG tasks (which call a step by its name), the CLI, the benchmarks
# and the tests import from here, so the modules behind it can change shape without them.
__all__ = [
    "GATEWAY_ACTION_TYPES",
    "WM_DISPUTES",
    "WM_PAYMENTS",
    "WM_REFRESH",
    "WM_REPORTS",
    "CheckoutReader",
    "QuarantinedItemsError",
    "StepResult",
    "Window",
    "actions_explain_balances",
    "clamp_to_search_horizon",
    "ingest_disputes",
    "ingest_payments",
    "ingest_reports",
    "payments_window",
    "raise_for_quarantine",
    "referenced_payment_ids",
    "refresh_referenced_payments",
    "run_all",
    "scheduled_start",
    "stage_payments",
]


def run_all(
    client: CheckoutReader,
    engine: Engine,
    settings: IngestSettings | None = None,
    *,
    window: Window | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every step in dependency order, for the CLI and tests (the DAG runs them as tasks).

    Like the DAG, every step runs and lands what it can read before anything quarantined fails
    the whole: :class:`QuarantinedItemsError` at the end, carrying the steps' results.
    """
    now = now or utcnow()
    out, tallies = {}, {}
    for step in (ingest_payments, ingest_disputes, ingest_reports):
        res = step(client, engine, settings, window=window, now=now, run_id=run_id)
        out[step.__name__], tallies[step.__name__] = res.as_dict(), res.quarantine
    res = refresh_referenced_payments(client, engine, settings, run_id=run_id)
    out["refresh_referenced_payments"], tallies["refresh_referenced_payments"] = res.as_dict(), res.quarantine
    raise_for_quarantine(tallies, results=out)
    return out
