"""Knobs of applying webhook events (``checkout_events``), with the reasons for their defaults.

Moved out of ``service.py`` onto the shared parser: the old one converted each value with the
type of its default, so ``fetch_truth: "false"`` became ``True``; now every source parses flags,
numbers and durations the same way (docs/settings.md). Environment: ``CFP_EVENTS_<FIELD>``.
"""

from __future__ import annotations

from typing import ClassVar

from checkout_freshportal.settings_base import Flag, NonNegativeInt, PositiveInt, Seconds, TypedSettings


class EventsSettings(TypedSettings):
    settings_group: ClassVar[str] = "events"
    env_prefix: ClassVar[str] = "CFP_EVENTS_"

    # Events per transaction. Larger batches amortise the commit; smaller ones keep the SQLite
    # write lock (shared with the sidecar) short. 500 events commit in well under a second.
    batch_size: PositiveInt = 500
    # A run stops taking new batches after this long; the next run (at most 10 min later, or
    # the sidecar's next trigger) continues. Keeps one run from hogging the single active slot.
    time_budget_seconds: Seconds = 240.0
    # Ask GET /payments/{id} when the facts are missing or contradict each other.
    fetch_truth: Flag = True
    # An event whose payment needs the API while the API fails is kept for the next run, at most
    # this many times; then it is applied without the snapshot (its problems stay recorded).
    max_deferrals: NonNegativeInt = 5
