"""Counters of what a client did on the wire, for benchmarks, logs, XComs and tests.

Every HTTP attempt is counted (a retried call once per attempt), keyed by method and a stable
endpoint kind such as ``payments.search`` rather than by URL, so "calls per 1,000 payments" can
be computed without parsing paths. A client adds its own counters by subclassing and extending
:meth:`CallStats._reset_extra` and :meth:`CallStats._snapshot_extra`.
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
    _token_refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ recording
    def record_call(self, method: str, kind: str) -> None:
        with self._lock:
            self._calls[(method.upper(), kind)] += 1

    def record_status(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1

    def record_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def record_token_refresh(self) -> None:
        with self._lock:
            self._token_refreshes += 1

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._statuses.clear()
            self._retries = 0
            self._token_refreshes = 0
            self._reset_extra()

    def _reset_extra(self) -> None:
        """Zero a subclass's own counters (called with the lock held)."""

    # ------------------------------------------------------------------ reading
    @property
    def calls(self) -> dict[tuple[str, str], int]:
        """``{(method, kind): count}``, e.g. ``{("POST", "payments.search"): 3}``."""
        with self._lock:
            return dict(self._calls)

    @property
    def statuses(self) -> dict[int, int]:
        with self._lock:
            return dict(self._statuses)

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def token_refreshes(self) -> int:
        return self._token_refreshes

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

    def snapshot(self) -> dict[str, Any]:
        """JSON-friendly copy, e.g. for a benchmark result or an XCom."""
        with self._lock:
            return {
                "calls": {f"{m} {k}": n for (m, k), n in sorted(self._calls.items())},
                "total_calls": sum(self._calls.values()),
                "statuses": {str(s): n for s, n in sorted(self._statuses.items())},
                "retries": self._retries,
                "token_refreshes": self._token_refreshes,
                **self._snapshot_extra(),
            }

    def _snapshot_extra(self) -> dict[str, Any]:
        """A subclass's own counters for :meth:`snapshot` (called with the lock held)."""
        return {}
