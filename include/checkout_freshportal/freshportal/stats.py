"""FreshPortal call counters: the shared :class:`~checkout_freshportal.http.stats.CallStats`
plus ``notes_deduplicated``, the creates answered from an existing note instead of being posted
(the check-before-create rule). ``token_refreshes`` counts re-authentications after a 401 (the
first token fetch is not a refresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..http.stats import CallStats as _BaseStats

__all__ = ["CallStats"]


@dataclass
class CallStats(_BaseStats):
    """Thread-safe counters; read them through the properties or :meth:`snapshot`."""

    _notes_deduplicated: int = 0

    def record_note_deduplicated(self) -> None:
        with self._lock:
            self._notes_deduplicated += 1

    def _reset_extra(self) -> None:
        self._notes_deduplicated = 0

    @property
    def notes_deduplicated(self) -> int:
        return self._notes_deduplicated

    def _snapshot_extra(self) -> dict[str, Any]:
        return {"notes_deduplicated": self._notes_deduplicated}
