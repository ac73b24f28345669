"""Client-side request budgets that block until a slot is free.

Checkout.com limits each account to about 100 reads/s and 100 writes/s across all APIs and
answers 429 beyond that (docs/checkout-com.md#rate-limits). Waiting for a 429 and backing off wastes
a round trip and, worse, eats the budget of every other process on the account, so the client paces itself
below the limit. A moving window (``limits.MovingWindowRateLimiter``) guarantees that no
1-second span ever holds more than ``rate`` request starts, which a fixed window does not
(2x bursts at window edges).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# Never sleep longer than this in one go, so a thread notices a freed slot promptly.
_MAX_SINGLE_SLEEP = 0.25


class BlockingRateLimiter:
    """At most ``rate`` acquisitions per rolling second; :meth:`acquire` blocks until allowed.

    Thread-safe: the in-memory storage serialises entries per key. ``rate == 0`` disables it.
    One instance per budget (read / write) per client; budgets are not shared across processes.
    """

    def __init__(
        self,
        rate: int,
        *,
        name: str = "budget",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.rate = rate
        self.name = name
        self._sleep = sleep
        self._key = f"{name}-{uuid.uuid4().hex}"
        if rate:
            self._item = RateLimitItemPerSecond(rate, 1)
            self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self) -> float:
        """Take one slot, waiting as long as needed. Returns the seconds spent waiting."""
        if not self.rate:
            return 0.0
        waited = 0.0
        while True:
            if self._limiter.hit(self._item, self._key):
                return waited
            stats = self._limiter.get_window_stats(self._item, self._key)
            delay = min(max(stats.reset_time - time.time(), 0.001), _MAX_SINGLE_SLEEP)
            self._sleep(delay)
            waited += delay

    def try_acquire(self) -> bool:
        """Take a slot only if one is free now."""
        if not self.rate:
            return True
        return self._limiter.hit(self._item, self._key)

    def __repr__(self) -> str:
        return f"BlockingRateLimiter(name={self.name!r}, rate={self.rate}/s)"
