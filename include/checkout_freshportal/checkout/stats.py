"""Checkout.com call counters: the shared :class:`~checkout_freshportal.http.stats.CallStats`
plus what the account's rate limits make worth knowing (429s, time spent in the client-side
budget, and read/write calls as the API host's budgets count them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..http.stats import READ_METHODS
from ..http.stats import CallStats as _BaseStats

__all__ = ["READ_METHODS", "CallStats"]

#: Kinds that do not hit the API host's rate limits (storage is a different host; the token
#: endpoint is the access host).
_OFF_API = frozenset({"token", "reports.storage"})


@dataclass
class CallStats(_BaseStats):
    """Thread-safe counters; read them through the properties or :meth:`snapshot`."""

    _rate_limited: int = 0
    _throttle_wait_s: float = 0.0

    def record_status(self, status: int) -> None:
        super().record_status(status)
        if status == 429:
            with self._lock:
                self._rate_limited += 1

    def record_throttle_wait(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._throttle_wait_s += seconds

    def _reset_extra(self) -> None:
        self._rate_limited = 0
        self._throttle_wait_s = 0.0

    @property
    def rate_limited(self) -> int:
        """Number of 429 responses received."""
        return self._rate_limited

    @property
    def throttle_wait_seconds(self) -> float:
        """Time spent blocked in the client-side rate limiter."""
        return self._throttle_wait_s

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

    def _snapshot_extra(self) -> dict[str, Any]:
        return {"rate_limited": self._rate_limited, "throttle_wait_seconds": round(self._throttle_wait_s, 3)}
