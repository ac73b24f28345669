"""What the API was asked to move, and declines armed by tests (``/_sandbox/actions``, ``/declines``).

A test that injects faults must count exactly what Checkout.com *executed*: every capture,
refund and void accepted with a 202 is one entry here, with its action id, amount, reference
and, once it has landed, whether it was approved. Replayed idempotent answers add nothing
(the route never runs), so two entries for one refund request mean the client doubled it.

Declines are deterministic: ``/_sandbox/declines`` arms the next N actions of a type (on one
payment or any) to be declined by the acquirer with a given response code, or (``http_status``
403/422) to be refused outright, as Checkout.com does when its view of the payment differs. The request
metadata ``{"sandbox_decline": true}`` and the payment metadata ``sandbox_decline`` (a comma
list of ``capture``, ``refund``, ``void``; used by scenario files) do the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import cko_ts
from .model import Payment

ACTION_TYPES = ("Capture", "Refund", "Void")
DEFAULT_DECLINE_CODE = "20005"


@dataclass
class LedgerEntry:
    payment_id: str
    action_id: str
    type: str
    amount: int
    reference: str | None
    requested_on: datetime
    approved: bool | None = None  # None until the outcome lands
    response_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "action_id": self.action_id,
            "type": self.type,
            "amount": self.amount,
            "reference": self.reference,
            "requested_on": cko_ts(self.requested_on),
            "approved": self.approved,
            "response_code": self.response_code,
        }


@dataclass
class ArmedDecline:
    type: str
    payment_id: str | None
    response_code: str
    remaining: int
    #: 403 or 422: the request itself is refused (nothing accepted, nothing executed).
    http_status: int | None = None


@dataclass
class ActionLedger:
    entries: list[LedgerEntry] = field(default_factory=list)
    by_action: dict[str, LedgerEntry] = field(default_factory=dict)
    armed: list[ArmedDecline] = field(default_factory=list)

    def record(
        self, p: Payment, action_id: str, kind: str, amount: int, reference: str | None, at: datetime
    ) -> None:
        entry = LedgerEntry(p.id, action_id, kind, amount, reference, at)
        self.entries.append(entry)
        self.by_action[action_id] = entry

    def landed(self, action_id: str, approved: bool, response_code: str) -> None:
        entry = self.by_action.get(action_id)
        if entry is not None:
            entry.approved, entry.response_code = approved, response_code

    def _take(self, p: Payment, kind: str, refusal: bool) -> ArmedDecline | None:
        for armed in sorted(self.armed, key=lambda a: a.payment_id is None):  # specific first
            if (
                armed.type == kind
                and armed.payment_id in (None, p.id)
                and (armed.http_status is not None) == refusal
            ):
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self.armed.remove(armed)
                return armed
        return None

    def refusal_for(self, p: Payment, kind: str) -> int | None:
        """403 or 422 when this request is to be refused outright (armed, or the payment's
        metadata ``sandbox_refuse``: a comma list of ``capture``, ``refund``, ``void``: 403)."""
        armed = self._take(p, kind, refusal=True)
        if armed is not None:
            return armed.http_status
        wanted = str(p.metadata.get("sandbox_refuse") or "")
        return 403 if kind.lower() in {w.strip().lower() for w in wanted.split(",")} else None

    def decline_for(self, p: Payment, kind: str, metadata: dict[str, Any] | None) -> str | None:
        """The response code this new action will be declined with, or None (approved)."""
        armed = self._take(p, kind, refusal=False)
        if armed is not None:
            return armed.response_code
        if metadata and metadata.get("sandbox_decline"):
            return DEFAULT_DECLINE_CODE
        wanted = str(p.metadata.get("sandbox_decline") or "")
        if kind.lower() in {w.strip().lower() for w in wanted.split(",")}:
            return DEFAULT_DECLINE_CODE
        return None

    def arm(
        self,
        kind: str,
        payment_id: str | None,
        response_code: str,
        count: int,
        http_status: int | None = None,
    ) -> None:
        self.armed.append(ArmedDecline(kind, payment_id, response_code, count, http_status))

    def report(self, payment_id: str | None = None, kind: str | None = None) -> dict[str, Any]:
        """Entries per payment and totals per type (count, amount, approved, declined, pending)."""
        chosen = [
            e
            for e in self.entries
            if (payment_id is None or e.payment_id == payment_id) and (kind is None or e.type == kind)
        ]
        payments: dict[str, list[dict[str, Any]]] = {}
        totals = {
            t: {"count": 0, "amount": 0, "approved": 0, "approved_amount": 0, "declined": 0, "pending": 0}
            for t in ACTION_TYPES
        }
        for e in chosen:
            payments.setdefault(e.payment_id, []).append(e.as_json())
            t = totals[e.type]
            t["count"] += 1
            t["amount"] += e.amount
            if e.approved is None:
                t["pending"] += 1
            elif e.approved:
                t["approved"] += 1
                t["approved_amount"] += e.amount
            else:
                t["declined"] += 1
        armed = [
            {
                "type": a.type,
                "payment_id": a.payment_id,
                "response_code": a.response_code,
                "count": a.remaining,
                "http_status": a.http_status,
            }
            for a in self.armed
        ]
        return {"payments": payments, "totals": totals, "armed_declines": armed}

    def reset(self) -> None:
        self.entries.clear()
        self.by_action.clear()
