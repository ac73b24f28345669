"""Rate limits, injected failures and the call counters benchmarks read.

Reads (GET) and writes (POST/PUT/PATCH/DELETE) are limited separately, per second, with the
``limits`` package's moving window (docs/checkout-com.md#rate-limits: 100 + 100 rps by default).
Injected 429/500/slow answers are drawn from a seeded RNG so a test run with a given ``fault_seed``
sees the same sequence of faults for the same sequence of requests.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What ``FaultInjector.draw`` returns: answered 429 / 500 without processing, answered late,
#: processed then answered 500, processed then answered 504 after ``slow_seconds``.
FAULT_KINDS = ("429", "500", "slow", "after_500", "after_timeout")


class RateLimiter:
    def __init__(self, read_rps: int, write_rps: int) -> None:
        self.configure(read_rps, write_rps)

    def configure(self, read_rps: int, write_rps: int) -> None:
        """New limits start with empty windows: requests counted under the old limit are dropped.

        A test that lowers the limit then knows the full allowance is available at once, instead
        of sleeping until earlier requests leave the window.
        """
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.read_rps, self.write_rps = int(read_rps), int(write_rps)
        self._read = RateLimitItemPerSecond(self.read_rps) if self.read_rps > 0 else None
        self._write = RateLimitItemPerSecond(self.write_rps) if self.write_rps > 0 else None

    def hit(self, method: str) -> bool:
        """True when the request may proceed; a limit <= 0 means unlimited."""
        if method in WRITE_METHODS:
            return self._write is None or self._limiter.hit(self._write, "write")
        return self._read is None or self._limiter.hit(self._read, "read")


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()

    def draw(self, shares: tuple[float, ...]) -> str | None:
        """One of :data:`FAULT_KINDS` or None, one uniform draw per request.

        ``shares`` follow :data:`FAULT_KINDS` (``SandboxConfig.fault_shares``); the cumulative
        order keeps the sequence of a seed unchanged for the older kinds when newer ones are 0.
        """
        if not any(s > 0 for s in shares):
            return None
        with self._lock:
            u = self._rng.random()
        edge = 0.0
        for kind, share in zip(FAULT_KINDS, shares, strict=False):
            edge += share
            if u < edge:
                return kind
        return None


class CallCounter:
    """API calls received, by endpoint kind and method, and by status class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: Counter[tuple[str, str]] = Counter()
        self.by_status: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()

    def fault(self, kind: str) -> None:
        """A "processed then failed" answer was sent (its status is counted as usual too)."""
        with self._lock:
            self.faults[kind] += 1

    def count(self, kind: str, method: str) -> None:
        with self._lock:
            self.by_kind[(kind, method)] += 1

    def status(self, status: int) -> None:
        with self._lock:
            self.by_status[status] += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            calls: dict[str, dict[str, int]] = {}
            reads = writes = 0
            for (kind, method), n in sorted(self.by_kind.items()):
                calls.setdefault(kind, {})[method] = n
                if kind == "token":
                    continue
                if method in WRITE_METHODS:
                    writes += n
                else:
                    reads += n
            return {
                "calls": calls,
                "reads": reads,
                "writes": writes,
                "total": reads + writes,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "processed_then_failed": dict(sorted(self.faults.items())),
            }

    def reset(self) -> None:
        with self._lock:
            self.by_kind.clear()
            self.by_status.clear()
            self.faults.clear()
