"""Knobs of reconciliation (``reconciliation`` DAG, ``cfp reconcile``), with the reasons for
their defaults.

Built from DAG params / JSON with :meth:`ReconcileSettings.from_mapping` or from ``CFP_RECON_*``
variables (docs/settings.md); durations take ``"3d"``, ``"PT2H"`` or a number under a key naming
its unit (``payment_due_days: 3``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from checkout_freshportal.settings_base import Duration, Flag, PositiveInt, TextList, TypedSettings


class ReconcileSettings(TypedSettings):
    settings_group: ClassVar[str] = "reconciliation"
    env_prefix: ClassVar[str] = "CFP_RECON_"

    # A confirmed order with nothing captured this long after confirmation is a
    # ``missing_payment``: a payment link lives 3 days by default, a bank transfer less.
    payment_due: Duration = timedelta(days=3)
    # A FreshPortal refund request with no refund at Checkout.com this long after it was made is
    # ``refund_not_executed``: the refunds DAG runs every 5 minutes and settles within the hour.
    refund_due: Duration = timedelta(days=1)
    # FreshPortal may show an older payment status for this long (the status push retries with
    # backoff) before it is ``status_drift``.
    status_grace: Duration = timedelta(hours=2)
    # A capture with no financial action or no payout after this long is ``unsettled_capture``:
    # Checkout.com settles card captures in 1-3 business days, a week covers weekends and holidays.
    settlement_window: Duration = timedelta(days=7)
    # The fallback rule (same customer, amount and currency) suggests a match only for a payment
    # requested within this long of the order's confirmation; it never confirms one.
    suggestion_window: Duration = timedelta(days=3)
    # FreshPortal order statuses (not confirmed) under which an order may keep its money, so it
    # is no ``unconfirmed_order_paid``: a credit note is often settled against later invoices.
    credit_statuses: TextList = ("credited",)
    # Exceptions are written to FreshPortal as notes on their orders, once per state change.
    notes: Flag = True
    # Rerun only what changed since the last run (plus what aged past a due time); a full run
    # still happens at least this often, and whenever the settings change.
    incremental: Flag = True
    full_every: Duration = timedelta(days=1)
    # Notes written per run at most; the rest waits for the next run.
    max_notes_per_run: PositiveInt = 500
