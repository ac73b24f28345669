"""Knobs of the incremental Checkout.com ingestion, with the reasons for their defaults.

Parsed by the shared :class:`~checkout_freshportal.settings_base.TypedSettings`: a duration is
``"2h"``, ``"PT2H"`` or a number under a key naming its unit (``rewalk_days: 3``,
``disputes_overlap_hours: 2``); environment ``CFP_INGEST_<FIELD>``; docs/settings.md.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import ClassVar

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from checkout_freshportal.settings_base import Duration, NonNegativeInt, PositiveInt, TextList, TypedSettings
from checkout_freshportal.warehouse.report_convert import TimeZones, zone_named

#: Report types whose files carry money the warehouse stages.
REPORT_TYPES: tuple[str, ...] = ("FinancialActions", "FinancialActionsByPayoutId", "Payouts")


class IngestSettings(TypedSettings):
    settings_group: ClassVar[str] = "ingest"
    env_prefix: ClassVar[str] = "CFP_INGEST_"

    # Payments are found by POST /payments/search, whose from/to filter on creation time. A
    # capture, refund or chargeback on an older payment does not make it "new", so each run
    # re-searches this much history before the watermark (the PostHog connector's blind spot).
    rewalk: Duration = timedelta(days=3)
    # First run without a watermark: how far back to start. The search API only reaches ~90 days.
    initial_lookback: Duration = timedelta(days=30)
    search_horizon: Duration = timedelta(days=90)
    # Width of one search window. Each page lands on its own and the watermark moves at the end
    # of each window, so a run that dies mid-way resumes from the last complete window. Wider
    # windows mean fewer calls (a call returns up to 1000 payments): one day keeps a steady-state
    # hourly run at about one call per thousand payments read.
    search_window: Duration = timedelta(days=1)
    search_page_size: PositiveInt = 1000
    # Lists and search are eventually consistent: never claim data newer than now - settle.
    settle: Duration = timedelta(minutes=2)
    # Disputes are listed by last_update; re-read this much before the watermark.
    disputes_overlap: Duration = timedelta(hours=1)
    # Reports are listed by creation time; re-list this much before the watermark (files already
    # loaded are recognised by id and checksum and skipped).
    reports_overlap: Duration = timedelta(days=1)
    report_types: TextList = REPORT_TYPES
    # Payments referenced by newly staged financial actions or disputes but unknown or stale in
    # stg_payments are refreshed one by one (GET payment + actions), at most this many per run.
    max_refresh_per_run: NonNegativeInt = 500
    # An item that cannot be read (a payment, a dispute, a report listing entry or file) is
    # quarantined and retried by the next runs, each failed retry failing that run; after this
    # many attempts in all it is parked (listed, counted, no longer retried) until an operator
    # re-queues it: an hourly schedule must not page someone forever for one bad object.
    quarantine_attempts: PositiveInt = 3
    # More unreadable items than this in one step is not "a bad object": it is a bug or a format
    # change, so the step fails (nothing of that batch lands, the watermark stays) instead of
    # quarantining everything behind moved watermarks.
    quarantine_max_new_per_step: PositiveInt = 100
    # Report files write timestamps without an offset, in the client entity's settlement time
    # zone (UTC unless the entity chose one): IANA names, per Client Entity ID, and the default.
    report_time_zone: str = "UTC"
    report_time_zones: dict[str, str] = {}

    @field_validator("report_time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        _check_zone(name)
        return name

    @field_validator("report_time_zones", mode="before")
    @classmethod
    def _zones_from_text(cls, value: object) -> object:
        """An environment variable carries the mapping as JSON or as ``ent_a=Zone,ent_b=Zone``."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("{"):
            return json.loads(value)
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise PydanticCustomError("settings", "a JSON object or entity=Zone pairs separated by commas")
        return {k.strip(): z.strip() for k, z in pairs}

    @field_validator("report_time_zones")
    @classmethod
    def _known_zones(cls, zones: dict[str, str]) -> dict[str, str]:
        for name in zones.values():
            _check_zone(name)
        return zones

    def time_zones(self) -> TimeZones:
        """The report time zones as the report loader takes them."""
        return TimeZones(self.report_time_zone, dict(self.report_time_zones))

    @field_validator("search_window")
    @classmethod
    def _window_not_empty(cls, width: timedelta) -> timedelta:
        if width <= timedelta(0):  # a zero-width window would never reach the end of the range
            raise PydanticCustomError("settings", "must be longer than zero")
        return width


def _check_zone(name: str) -> None:
    try:
        zone_named(name)
    except ValueError:
        raise PydanticCustomError(
            "settings", "not an IANA time zone name known here (e.g. Europe/London)"
        ) from None
