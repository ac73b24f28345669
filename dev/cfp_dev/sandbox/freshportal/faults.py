"""Fault injection per run: seeded shares of 429 / 500 / slow answers, plus one-shot faults.

Shares draw from one ``random.Random(fault_seed)``, so the same request sequence meets the same
faults. ``500_after_commit`` applies to writes only: the write is stored, then answered 500 --
the case that turns a naive retry of a non-idempotent create into a duplicate. One-shot faults
(``POST /_sandbox/faults/next``) hit the next matching requests deterministically, for tests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .config import FAULT_KINDS, FreshPortalSandboxConfig, check_fault_shares

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class OneShotFault:
    fault: str
    method: str | None = None
    #: Substring the request path must contain (e.g. ``"/notes"``); ``None`` = any path.
    path: str | None = None
    count: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path in path)


class FaultInjector:
    def __init__(self, config: FreshPortalSandboxConfig) -> None:
        self._config = config
        self._rng = random.Random(config.effective_fault_seed)
        self._lock = threading.Lock()
        self._queue: list[OneShotFault] = []

    def queue(self, fault: str, method: str | None = None, path: str | None = None, count: int = 1) -> None:
        if fault not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {list(FAULT_KINDS)}, got {fault!r}")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._queue.append(OneShotFault(fault, method.upper() if method else None, path, count))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [vars(f).copy() for f in self._queue]

    def set_shares(self, **shares: float) -> None:
        c = self._config
        values = {
            "fault_429_share": c.fault_429_share,
            "fault_500_share": c.fault_500_share,
            "fault_slow_share": c.fault_slow_share,
            "fault_500_after_commit_share": c.fault_500_after_commit_share,
            **shares,
        }
        check_fault_shares(
            values["fault_429_share"],
            values["fault_500_share"],
            values["fault_slow_share"],
            values["fault_500_after_commit_share"],
        )
        for key, value in values.items():
            setattr(c, key, float(value))

    def decide(self, method: str, path: str) -> str | None:
        """The fault for this request: ``429`` | ``500`` | ``slow`` | ``500_after_commit`` | None."""
        is_write = method in WRITE_METHODS and not path.endswith("/v1/auth")
        with self._lock:
            for item in self._queue:
                if item.matches(method, path) and (item.fault != "500_after_commit" or is_write):
                    item.count -= 1
                    if item.count <= 0:
                        self._queue.remove(item)
                    return item.fault
            c = self._config
            r = self._rng.random()
            after = self._rng.random()
            if r < c.fault_429_share:
                return "429"
            if r < c.fault_429_share + c.fault_500_share:
                return "500"
            if r < c.fault_429_share + c.fault_500_share + c.fault_slow_share:
                return "slow"
            if is_write and after < c.fault_500_after_commit_share:
                return "500_after_commit"
            return None
