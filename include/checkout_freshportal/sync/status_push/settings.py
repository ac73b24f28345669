"""Knobs of pushing payment statuses to FreshPortal, with the reasons for their defaults.

Moved out of ``service.py`` onto the shared parser (docs/settings.md), so ``push_settings`` in
DAG params parses like every other group. Environment: ``CFP_STATUS_PUSH_<FIELD>``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from checkout_freshportal.settings_base import PositiveInt, Seconds, TypedSettings


class PushSettings(TypedSettings):
    settings_group: ClassVar[str] = "push"
    env_prefix: ClassVar[str] = "CFP_STATUS_PUSH_"

    # Orders written per run; a burst beyond this is taken by the next run (seconds away when the
    # sidecar triggers, at most 10 minutes otherwise).
    max_orders: PositiveInt = 2000
    # Backoff after a failed attempt: base * 2^(attempts-1), capped. The client has already
    # retried a few times within seconds; this spaces out the runs' attempts while FreshPortal
    # is down, without letting a status wait longer than the cap once it is back.
    backoff_base_seconds: Seconds = 30.0
    backoff_cap_seconds: Seconds = 900.0

    def backoff(self, attempts: int) -> timedelta:
        seconds = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=seconds)
