"""``Cko-Idempotency-Key`` (docs/checkout-com.md#idempotency, architecture.md decision 6).

Keys are scoped per (key, method, path). A 2xx answer is stored and replayed byte for byte
(status, headers, body; only ``Cko-Request-Id`` is new) until the TTL passes on the simulated
clock; a non-2xx answer is not stored, so a retry is processed anew; a duplicate arriving while
the first is still being processed gets 409. A different body under the same key replays the
first answer (undocumented upstream; the conservative choice).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

IdemKey = tuple[str, str, str]


@dataclass
class StoredResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires_at: datetime


@dataclass
class IdempotencyStore:
    _entries: dict[IdemKey, StoredResponse | None] = field(default_factory=dict)  # None = in flight
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, key: IdemKey, now: datetime) -> tuple[str, StoredResponse | None]:
        """``("new", None)`` (then finish or abandon), ``("replay", stored)`` or ``("conflict", None)``."""
        with self._lock:
            if key in self._entries:
                stored = self._entries[key]
                if stored is None:
                    return "conflict", None
                if stored.expires_at > now:
                    return "replay", stored
            self._entries[key] = None
            if len(self._entries) > 50_000:
                self._purge(now)
            return "new", None

    def finish(
        self,
        key: IdemKey,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        now: datetime,
        ttl_seconds: float,
    ) -> None:
        with self._lock:
            if 200 <= status < 300:
                self._entries[key] = StoredResponse(
                    status, headers, body, now + timedelta(seconds=ttl_seconds)
                )
            else:
                self._entries.pop(key, None)

    def abandon(self, key: IdemKey) -> None:
        with self._lock:
            if self._entries.get(key, 0) is None:
                del self._entries[key]

    def _purge(self, now: datetime) -> None:
        for k in [k for k, v in self._entries.items() if v is not None and v.expires_at <= now]:
            del self._entries[k]
