"""Knobs of the data-quality suite (``run_quality``), with the reasons for their defaults.

Built like every settings group (docs/settings.md): ``QualitySettings.load()`` reads
``CFP_DQ_*`` variables, ``from_mapping`` takes DAG params; durations take ``"26h"``, ``"P3D"`` or
a number under a key naming its unit (``payments_max_age_hours: 26``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar

from pydantic import BeforeValidator

from checkout_freshportal.settings_base import Duration, Flag, TextList, TypedSettings, bounded_int

#: FreshPortal order statuses that mean "confirmed" unless the tenant mapping says otherwise
#: (the same default as ``mapping.confirmed_order_statuses``).
DEFAULT_CONFIRMED_STATUSES = ("confirmed", "picking", "delivered", "invoiced")


class QualitySettings(TypedSettings):
    settings_group: ClassVar[str] = "data quality"
    env_prefix: ClassVar[str] = "CFP_DQ_"

    # Freshness: the newest row a source wrote may be this old before the check warns. Payments
    # are ingested hourly and a shop takes payments every day: a day and a bit covers a quiet
    # night. Orders come from FreshPortal's change feed, as often.
    payments_max_age: Duration = timedelta(hours=26)
    orders_max_age: Duration = timedelta(hours=26)
    # Webhooks arrive within seconds of a payment event; a day without one means the sidecar or
    # the webhook subscription is down, or the shop is closed.
    webhooks_max_age: Duration = timedelta(hours=26)
    # Financial-action report files come once a day, generated in the first hours of the next
    # day; a weekend or a late file must not warn, three days late must.
    financial_actions_max_age: Duration = timedelta(days=3)
    # Payouts are weekly by default (Checkout.com's common schedule) plus a day's delay.
    payouts_max_age: Duration = timedelta(days=8)
    # A stale source makes reconciliation report false exceptions (missing payments), but it is
    # not wrong data: a warning unless the deployment wants it to stop the run.
    freshness_critical: Flag = False
    # Order statuses whose orders must carry ``confirmed_at`` (set it to the tenant mapping's
    # ``confirmed_order_statuses`` when that differs).
    confirmed_statuses: TextList = DEFAULT_CONFIRMED_STATUSES
    # Sample keys kept per failed check (results, the report, the error message).
    sample_size: Annotated[int, BeforeValidator(bounded_int(1, 50))] = 5
