"""Counters of what the client did on the wire, for benchmarks, logs and tests.

Every HTTP attempt is counted (a retried call counts once per attempt), keyed by method and a
stable endpoint kind such as ``payments.search`` rather than by URL, so "read calls per 1,000
payments" can be computed without parsing paths.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class CallStats:
    """Thread-safe counters; read them through the properties or :meth:`snapshot`."""

    _calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    _statuses: Counter[int] = field(default_factory=Counter)
    _retries: int = 0
    _rate_limited: int = 0
    _token_refreshes: int = 0
    _throttle_wait_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ recording
    def record_call(self, method: str, kind: str) -> None:
        with self._lock:
            self._calls[(method.upper(), kind)] += 1

    def record_status(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1
            if status == 429:
                self._rate_limited += 1

    def record_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def record_token_refresh(self) -> None:
        with self._lock:
            self._token_refreshes += 1

    def record_throttle_wait(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._throttle_wait_s += seconds

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._statuses.clear()
            self._retries = 0
            self._rate_limited = 0
            self._token_refreshes = 0
            self._throttle_wait_s = 0.0

    # ------------------------------------------------------------------ reading
    @property
    def calls(self) -> dict[tuple[str, str], int]:
        """``{(method, kind): count}``, e.g. ``{("POST", "payments.search"): 3}``."""
        with self._lock:
            return dict(self._calls)

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def rate_limited(self) -> int:
        """Number of 429 responses received."""
        return self._rate_limited

    @property
    def token_refreshes(self) -> int:
        return self._token_refreshes

    @property
    def throttle_wait_seconds(self) -> float:
        """Time spent blocked in the client-side rate limiter."""
        return self._throttle_wait_s

    @property
    def statuses(self) -> dict[int, int]:
        with self._lock:
            return dict(self._statuses)

    def count(self, kind: str | None = None, method: str | None = None) -> int:
        """Calls matching ``kind`` and/or ``method`` (None = any)."""
        with self._lock:
            return sum(
                n
                for (m, k), n in self._calls.items()
                if (kind is None or k == kind) and (method is None or m == method.upper())
            )

    @property
    def total_calls(self) -> int:
        return self.count()

    @property
    def read_calls(self) -> int:
        """Calls the account's read budget sees (GET); excludes token and storage downloads."""
        with self._lock:
            return sum(n for (m, k), n in self._calls.items() if m in READ_METHODS and k not in _OFF_API)

    @property
    def write_calls(self) -> int:
        """Calls the account's write budget sees (POST/PUT/PATCH/DELETE); excludes token calls."""
        with self._lock:
            return sum(n for (m, k), n in self._calls.items() if m not in READ_METHODS and k not in _OFF_API)

    def snapshot(self) -> dict[str, Any]:
        """JSON-friendly copy, e.g. for a benchmark result or an XCom."""
        with self._lock:
            calls = {f"{m} {k}": n for (m, k), n in sorted(self._calls.items())}
            return {
                "calls": calls,
                "total_calls": sum(self._calls.values()),
                "statuses": {str(s): n for s, n in sorted(self._statuses.items())},
                "retries": self._retries,
                "rate_limited": self._rate_limited,
                "token_refreshes": self._token_refreshes,
                "throttle_wait_seconds": round(self._throttle_wait_s, 3),
            }


#: Kinds that do not hit the API host's rate limits (storage is a different host; the token
#: endpoint is the access host).
_OFF_API = frozenset({"token", "reports.storage"})
