"""What one ``apply_events`` run reports, and the port and failure it is defined by.

Kept apart from :mod:`.service` so DAG tasks and the CLI can name the result and the failure
without the whole use case; :mod:`.service` re-exports them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from checkout_freshportal.errors import PermanentError
from checkout_freshportal.sync.events import store
from checkout_freshportal.timeutil import format_ts

log = logging.getLogger(__name__)

#: How many ids/rows a result lists (the counts are always complete).
LIST_LIMIT = 20


class PaymentReader(Protocol):
    """The part of ``CheckoutClient`` this use case needs."""

    def get_payment(self, payment_id: str) -> Mapping[str, Any]: ...


class StatusMappingError(PermanentError, RuntimeError):
    """A derived status the tenant mapping does not cover; the rest of the run was applied (permanent)."""


@dataclass
class ApplyResult:
    batches: int = 0
    events_read: int = 0
    events_applied: int = 0
    events_ignored: int = 0  # parsed, but about no payment status (e.g. retrieval requests)
    events_deferred: int = 0  # kept for the next run: their payment needed the API, which failed
    events_made_poison: int = 0  # unparseable here although the sidecar stored them as valid
    payments_touched: int = 0
    payments_changed: int = 0  # version moved
    truth_fetched: int = 0
    truth_not_found: int = 0
    truth_failed: int = 0
    declines_logged: int = 0
    disputes_staged: int = 0  # stg_disputes rows added or changed by dispute webhooks
    dispute_details_fetched: int = 0  # GET /disputes/{id}: a webhook lacked what the order shows
    outbox_rows: int = 0
    orders_resolved_late: int = 0  # payments whose order was found after their status
    unresolved_payments: int = 0  # payments touched this run still without an order
    unresolved_total: int = 0  # every payment without an order (outbox waits for them)
    unresolved_sample: list[str] = field(default_factory=list)
    payments_with_problems: int = 0
    problems_sample: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    poison_count: int = 0
    poison: list[dict[str, Any]] = field(default_factory=list)
    budget_exhausted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def surface_poison(engine: Engine, result: ApplyResult) -> None:
    """Poison events are never applied, but every run names them until someone looks."""
    result.poison_count, rows = store.waiting_poison(engine, LIST_LIMIT)
    result.poison = [
        {"event_id": r["event_id"], "received_at": format_ts(r["received_at"]), "reason": r["poison_reason"]}
        for r in rows
    ]
    if result.poison_count:
        log.warning(
            "%d poison event(s) are not applied (oldest: %s); see docs/status-machine.md",
            result.poison_count,
            result.poison[0]["event_id"] if result.poison else "?",
        )
