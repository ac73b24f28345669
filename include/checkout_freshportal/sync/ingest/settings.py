"""Knobs of the incremental Checkout.com ingestion, with the reasons for their defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

#: Report types whose files carry money the warehouse stages.
REPORT_TYPES: tuple[str, ...] = ("FinancialActions", "FinancialActionsByPayoutId", "Payouts")


@dataclass(frozen=True)
class IngestSettings:
    # Payments are found by POST /payments/search, whose from/to filter on creation time. A
    # capture, refund or chargeback on an older payment does not make it "new", so each run
    # re-searches this much history before the watermark (the PostHog connector's blind spot).
    rewalk: timedelta = timedelta(days=3)
    # First run without a watermark: how far back to start. The search API only reaches ~90 days.
    initial_lookback: timedelta = timedelta(days=30)
    search_horizon: timedelta = timedelta(days=90)
    # Width of one search window. Each page lands on its own and the watermark moves at the end
    # of each window, so a run that dies mid-way resumes from the last complete window. Wider
    # windows mean fewer calls (a call returns up to 1000 payments): one day keeps a steady-state
    # hourly run at about one call per thousand payments read.
    search_window: timedelta = timedelta(days=1)
    search_page_size: int = 1000
    # Lists and search are eventually consistent: never claim data newer than now - settle.
    settle: timedelta = timedelta(minutes=2)
    # Disputes are listed by last_update; re-read this much before the watermark.
    disputes_overlap: timedelta = timedelta(hours=1)
    # Reports are listed by creation time; re-list this much before the watermark (files already
    # loaded are recognised by id and checksum and skipped).
    reports_overlap: timedelta = timedelta(days=1)
    report_types: tuple[str, ...] = REPORT_TYPES
    # Payments referenced by newly staged financial actions or disputes but unknown or stale in
    # stg_payments are refreshed one by one (GET payment + actions), at most this many per run.
    max_refresh_per_run: int = 500

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> IngestSettings:
        """Build from DAG params / Airflow Variable JSON; durations in hours or days by name."""
        if not values:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - {f"{k}_hours" for k in known} - {f"{k}_days" for k in known})
        if unknown:
            raise ValueError(f"unknown ingest setting(s): {', '.join(unknown)}")
        out = cls()
        for key, value in values.items():
            if value is None:
                continue
            if key.endswith("_hours"):
                out = replace(out, **{key[:-6]: timedelta(hours=float(value))})
            elif key.endswith("_days"):
                out = replace(out, **{key[:-5]: timedelta(days=float(value))})
            elif key == "report_types":
                out = replace(out, report_types=tuple(value))
            else:
                current = getattr(out, key)
                out = replace(out, **{key: type(current)(value)})
        return out
