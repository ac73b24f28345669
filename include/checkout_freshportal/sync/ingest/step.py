"""What every ingest step shares: the Checkout.com reader it reads and the result it returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from checkout_freshportal.sync.ingest.quarantine import QuarantineTally


class CheckoutReader(Protocol):
    """The part of ``CheckoutClient`` ingestion uses (kept narrow so the use case stays testable)."""

    def search_payments(
        self, from_: datetime, to: datetime, query: str = ..., limit: int = ...
    ) -> Iterable[dict]: ...
    def get_payment(self, payment_id: str) -> dict: ...
    def get_payment_actions(self, payment_id: str) -> list[dict]: ...
    def get_dispute(self, dispute_id: str) -> dict: ...
    def list_disputes(
        self, from_: datetime | None = ..., to: datetime | None = ..., **kw: Any
    ) -> Iterable[dict]: ...
    def list_reports(
        self, created_after: datetime, created_before: datetime | None = ...
    ) -> Iterable[dict]: ...
    def get_report(self, report_id: str) -> dict: ...
    def open_report_file(self, report_id: str, file_id: str) -> Any: ...


@dataclass
class StepResult:
    step: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    raw_added: int = 0
    windows: int = 0
    actions_fetched_for: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    watermark: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: what the step quarantined, retried and resolved (sync/ingest/quarantine.py)
    quarantine: QuarantineTally = field(default_factory=QuarantineTally)

    def absorb(self, res: Any) -> None:
        self.inserted += res.inserted
        self.updated += res.updated
        self.unchanged += res.unchanged

    def add(self, other: StepResult) -> None:
        """Add the counts of a scratch result (a batch that landed after all) to this one."""
        for f in fields(self):
            value = getattr(other, f.name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, getattr(self, f.name) + value)
        for key, value in other.details.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.details[key] = self.details.get(key, 0) + value

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
