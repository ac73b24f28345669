"""Counters of what the FreshPortal client did on the wire, for logs, benchmarks and tests.

Every HTTP attempt counts once (a retried call once per attempt), keyed by method and a stable
kind such as ``orders.list`` rather than by URL. ``notes_deduplicated`` counts the creates that
were answered from an existing note instead of being posted (the check-before-create rule).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallStats:
    """Thread-safe counters; read them through the properties or :meth:`snapshot`."""

    _calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    _statuses: Counter[int] = field(default_factory=Counter)
    _retries: int = 0
    _token_refreshes: int = 0
    _notes_deduplicated: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def record_note_deduplicated(self) -> None:
        with self._lock:
            self._notes_deduplicated += 1

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._statuses.clear()
            self._retries = self._token_refreshes = self._notes_deduplicated = 0

    @property
    def calls(self) -> dict[tuple[str, str], int]:
        """``{(method, kind): count}``, e.g. ``{("GET", "orders.list"): 3}``."""
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
        """Re-authentications after a 401 (the first token fetch is not a refresh)."""
        return self._token_refreshes

    @property
    def notes_deduplicated(self) -> int:
        return self._notes_deduplicated

    def count(self, kind: str | None = None, method: str | None = None) -> int:
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
                "notes_deduplicated": self._notes_deduplicated,
            }
