"""The simulated clock and Checkout.com-style timestamps.

The sandbox has one notion of "now": an anchor instant plus the wall-clock time elapsed since
the anchor multiplied by ``clock_speed``, plus whatever ``/_sandbox/advance`` added. Async
outcomes (captures 2 s after the 202), webhook resends (5 min, 10 min, ...) and authorization
expiries are scheduled on it, so a fast clock compresses hours into seconds in tests.

Lifetimes a client measures on its own wall clock (OAuth tokens, whose ``expires_in`` it caches
by; signed storage URLs, which carry an epoch ``expires``) are kept in wall-clock seconds so they
mean the same at any clock speed, but they are read from :meth:`SimClock.wall_time`: the wall
clock plus every jump of ``/_sandbox/advance``. Advancing the clock past a lifetime therefore
ends it, and a test proves expiry without sleeping through it.

Timestamps are written like the real API: UTC, ``Z``, and 0 to 7 fractional digits, or (real
deliveries do this too) ``+00:00`` with exactly three fractional digits. Stored datetimes are
truncated to the precision they will be written with, so what a client parses back equals what
the sandbox filters on (the 7th digit is cosmetic, below a microsecond).

Which of the two styles an instant is written in is decided once, when the world stamps it
(``World.stamp``, per ``SandboxConfig.timestamp_style``), and travels with the datetime as its
``tzinfo``: :data:`OFFSET_UTC` is UTC in every comparison, hash and arithmetic, so nothing else
in the sandbox notices, yet every surface (API responses, webhook bodies, report files) writes
the same instant the same way without the renderers needing the config.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from checkout_freshportal.timeutil import TimestampError, parse_ts

#: ``tzinfo`` of instants written ``2023-05-24T09:12:27.469+00:00`` instead of ``...Z``.
OFFSET_UTC = timezone(timedelta(0), "+00:00")
#: Values of ``SandboxConfig.timestamp_style``.
TIMESTAMP_STYLES = ("z", "offset_ms", "mixed")


class SimClock:
    """Simulated UTC time: ``anchor + (monotonic elapsed) * speed + offset``; never goes back."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs an aware datetime")
        self._lock = threading.Lock()
        self._anchor_sim = start
        self._anchor_real = time.monotonic()
        self._speed = float(speed)
        self._offset = timedelta(0)
        self._skipped = 0.0  # seconds added by advance(); set_speed() folds _offset, not this
        self._last = start

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._anchor_real) * self._speed
            value = self._anchor_sim + timedelta(seconds=elapsed) + self._offset
            if value < self._last:  # monotonic() is monotonic; this guards float rounding only
                value = self._last
            self._last = value
            return value

    def advance(self, delta: timedelta) -> datetime:
        """Jump forward (``/_sandbox/advance``); returns the new now."""
        if delta < timedelta(0):
            raise ValueError("the simulated clock cannot go back")
        with self._lock:
            self._offset += delta
            self._skipped += delta.total_seconds()
        return self.now()

    def wall_time(self) -> float:
        """Epoch seconds for wall-clock lifetimes: ``time.time()`` plus everything advanced.

        Tokens and signed URLs expire on this, so ``/_sandbox/advance`` ages them like the rest
        of the world while a clock speed change (which only rescales simulated time) does not.
        """
        with self._lock:
            return time.time() + self._skipped

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        current = self.now()
        with self._lock:
            self._anchor_sim = current
            self._anchor_real = time.monotonic()
            self._offset = timedelta(0)
            self._speed = float(speed)

    def real_seconds_until(self, when: datetime) -> float:
        """Wall-clock seconds until the simulated clock reaches ``when`` (0 when passed)."""
        delta = (when - self.now()).total_seconds()
        return max(0.0, delta / self._speed)


def quantize(dt: datetime, digits: int) -> datetime:
    """Truncate to ``digits`` fractional digits (0-6); 7 is stored as 6."""
    digits = min(max(digits, 0), 6)
    step = 10 ** (6 - digits)
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % step)


def as_offset_style(dt: datetime) -> datetime:
    """``dt`` truncated to milliseconds and marked to be written with ``+00:00``."""
    return quantize(dt.astimezone(UTC), 3).replace(tzinfo=OFFSET_UTC)


@lru_cache(maxsize=1 << 18)
def _cko_ts(dt: datetime, offset_style: bool) -> str:
    # offset_style is part of the cache key: instants equal across tzinfos hash the same.
    dt = dt.astimezone(UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    micro = dt.microsecond
    if offset_style:
        return f"{base}.{micro // 1000:03d}+00:00"
    if micro == 0:
        return base + "Z"
    frac = f"{micro:06d}".rstrip("0")
    if len(frac) == 6:
        frac += str((micro * 7 + dt.second) % 10)
    return f"{base}.{frac}Z"


def cko_ts(dt: datetime | None) -> str | None:
    """Checkout.com style: ``2023-05-24T09:12:27.4695512Z``, ``...27.357Z`` or ``...27Z``.

    Trailing zeros are dropped; a full 6-digit value gets a deterministic 7th digit, so the
    output has 0-5 or 7 digits, as seen on the real API. An instant marked with
    :data:`OFFSET_UTC` is written ``2023-05-24T09:12:27.469+00:00`` (always 3 digits).
    """
    return None if dt is None else _cko_ts(dt, dt.tzinfo is OFFSET_UTC)


def parse_query_ts(value: str | None) -> datetime | None:
    """A timestamp from a query string; a ``+`` decoded as a space is put back."""
    if value is None or value == "":
        return None
    text = value.strip()
    if " " in text and "T" in text:
        text = text.replace(" ", "+")
    try:
        return parse_ts(text)
    except TimestampError:
        if len(text) == 10:  # a bare date: midnight UTC
            return parse_ts(text + "T00:00:00Z")
        raise


def day_start(dt: datetime) -> datetime:
    """Midnight UTC of ``dt``'s day, written in the same style as ``dt``."""
    out = dt.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return out.replace(tzinfo=OFFSET_UTC) if dt.tzinfo is OFFSET_UTC else out
