"""The time ranges the ingest steps read, and the one rule by which a scheduled run picks them.

Every source starts at its watermark minus an overlap (or the initial lookback), so none drifts;
a backfill's window is clamped to what the search API still reaches, and the clamp is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.sync.ingest.step import StepResult
from checkout_freshportal.timeutil import format_ts, parse_ts
from checkout_freshportal.warehouse.watermarks import get_watermark

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} >= {self.end.isoformat()}")

    @classmethod
    def parse(cls, start: str | datetime, end: str | datetime) -> Window:
        s, e = parse_ts(start, assume_utc=True), parse_ts(end, assume_utc=True)
        if s is None or e is None:
            raise ValueError("backfill needs both 'from' and 'to'")
        return cls(s, e)

    def split(self, width: timedelta) -> list[Window]:
        out, cur = [], self.start
        while cur < self.end:
            nxt = min(cur + width, self.end)
            out.append(Window(cur, nxt))
            cur = nxt
        return out


def clamp_to_search_horizon(
    window: Window, settings: IngestSettings, now: datetime, result: StepResult
) -> Window | None:
    """A backfill can only search what the search API still reaches (about 90 days) and the past.

    The part outside is reported in the step's result, not silently dropped.
    """
    start = max(window.start, now - settings.search_horizon)
    end = min(window.end, now)
    if start != window.start or end != window.end:
        result.details["clamped_from"] = [format_ts(window.start), format_ts(window.end)]
        log.warning(
            "payments backfill %s..%s clamped to the search horizon %s..%s; older payments are only "
            "reachable one by one (refresh_referenced_payments) or through report files",
            window.start,
            window.end,
            start,
            end,
        )
    return Window(start, end) if end > start else None


def scheduled_start(
    engine: Engine, mark_name: str, overlap: timedelta, settings: IngestSettings, now: datetime
) -> datetime:
    """Where a scheduled run starts reading a source: its watermark minus ``overlap``, or the
    initial lookback when there is none yet. One rule for every source, so none drifts."""
    with engine.connect() as conn:
        mark = get_watermark(conn, mark_name)
    start = parse_ts(mark)
    return start - overlap if start is not None else now - settings.initial_lookback
