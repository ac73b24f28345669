"""What one application run carries from batch to batch.

The sets here make "at most once per run" hold across batches (one ``GET /payments/{id}`` and one
``GET /disputes/{id}`` each), and the result is counted in place so a refused write can restore
it (``service._checkpoint``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.events.result import ApplyResult, PaymentReader
from checkout_freshportal.sync.events.settings import EventsSettings
from checkout_freshportal.sync.status.mapping import StatusMapping


@dataclass
class RunState:
    """What one run carries from batch to batch."""

    engine: Engine
    checkout: PaymentReader | None
    mapping: StatusMapping
    settings: EventsSettings
    run_id: str | None
    now: Callable[[], datetime]
    result: ApplyResult = field(default_factory=ApplyResult)
    fetched: set[str] = field(default_factory=set)  # GET /payments/{id} at most once per payment per run
    unresolved: set[str] = field(default_factory=set)  # payments of this run without a FreshPortal order
    touched: dict[str, tuple[str, ...]] = field(default_factory=dict)  # payment id -> its problems
    disputes_fetched: set[str] = field(default_factory=set)  # GET /disputes/{id} at most once per run
    dispute_details: dict[str, dict[str, Any]] = field(default_factory=dict)  # dispute id -> details
    # A replay (apply_stored): the batch's events applied before, whose facts are derived again
    redo: frozenset[str] = frozenset()
    failed: dict[str, str] = field(default_factory=dict)  # event id -> why it was set aside
