"""What one reconciliation run carries through its steps: the connection, the instant, the
thresholds, and (incremental runs) the scope of subjects to recompute.

A full run has no scope: every step reads everything. An incremental run fills one scratch table
per subject type (orders, payments, refund requests, payouts, disputes; reconcile/scope.py) and
every step restricts itself to them through :meth:`Ctx.in_scope`, so the same SQL serves both
modes and an incremental run computes exactly what a full run would for those subjects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from checkout_freshportal.reconcile.settings import ReconcileSettings

#: Subject types of the scope and the key column of each.
SUBJECTS: dict[str, str] = {
    "orders": "order_id",
    "payments": "payment_id",
    "refund_requests": "refund_request_id",
    "payouts": "payout_id",
    "disputes": "dispute_id",
}


@dataclass
class Ctx:
    conn: sa.Connection
    run_id: str
    as_of: datetime
    settings: ReconcileSettings
    confirmed_statuses: tuple[str, ...]
    mode: str = "full"  # full | incremental
    #: subject type -> scratch table with one key column (incremental runs only)
    scope: dict[str, sa.Table] | None = None
    #: scratch tables of this run, by short name (matching.py, facts.py)
    tmp: dict[str, sa.Table] = field(default_factory=dict)
    #: work running beside the run (reconcile/inputs.py): name -> a call that waits for its result
    side: dict[str, Callable[[], Any]] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        return self.scope is not None

    def in_scope(self, subject: str, column: Any) -> ColumnElement[bool]:
        """``column IN (scope of subject)``, or TRUE in a full run."""
        if self.scope is None:
            return sa.true()
        table = self.scope[subject]
        return column.in_(sa.select(table.c[SUBJECTS[subject]]))

    def wait_for(self, name: str) -> Any:
        """The result of the side work ``name`` once it is done (it may still be running), or
        None when none runs: the step then does that work itself, on this connection."""
        done = self.side.get(name)
        return done() if done is not None else None

    def cutoff(self, due: Any) -> datetime:
        """``as_of - due``: a subject older than this is past its due time."""
        return self.as_of - due
