"""Knobs of the finance report (``cfp report``, the ``reconciliation`` DAG's report task), with
the reasons for their defaults.

Built from ``CFP_REPORT_*`` variables or a mapping (docs/settings.md, docs/reports.md).
"""

from __future__ import annotations

from typing import ClassVar

from checkout_freshportal.settings_base import PositiveInt, TypedSettings


class ReportSettings(TypedSettings):
    settings_group: ClassVar[str] = "report"
    env_prefix: ClassVar[str] = "CFP_REPORT_"

    # Where dated report folders and ``latest/`` go. Relative paths are taken from the working
    # directory of the process (the Airflow worker's is the project root in the Astro image).
    out_dir: str = "reports"
    # Orders with open exceptions whose money chain is drawn in the report (most severe and
    # oldest first): a page finance can read, not a dump; ``cfp trace`` shows any other order.
    trace_orders: PositiveInt = 10
    # Days shown in "match rate over time", one point per day (that day's last succeeded run):
    # the DAG also runs on every input update, so a count of runs would not be a period.
    history_days: PositiveInt = 90
    # Dated report folders older than this many days are deleted after a successful render
    # (never ``latest`` nor the report just written). A month: finance reads last month's
    # closing report; archive elsewhere for longer (the figures stay in the warehouse).
    keep_days: PositiveInt = 30
    # Days of declines shown in "payment failures" (risk control looks at the last month).
    decline_days: PositiveInt = 30
    # Payouts drawn in the payout chart and listed in the HTML table (payouts.csv has all).
    payouts_shown: PositiveInt = 20
    # Rows of the exception table in the HTML page (exceptions.csv has all of them).
    exceptions_shown: PositiveInt = 200
