"""Payment histories played by the Checkout.com sandbox's own ``World``, in process.

The property tests need many realistic event histories quickly: the sandbox's transition code
(``sandbox/checkout/world.py``) is the reference model, so its events and balances are exactly
what the HTTP sandbox would deliver. A recording event sink captures each event's ``data`` at
the moment it is emitted, together with ``GET /payments/{id}`` as it would answer right then.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cfp_dev.sandbox.checkout import SandboxConfig, build_world
from cfp_dev.sandbox.checkout import render as sb_render
from cfp_dev.sandbox.checkout.cards import card_from_number
from cfp_dev.sandbox.checkout.model import Dispute, Payment
from cfp_dev.sandbox.checkout.world import World
from checkout_freshportal.sync.status.facts import Fact, fact_from_event

BASE = "http://sandbox.invalid"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

START_KINDS = (
    "approve",
    "decline",
    "verify",
    "verify_decline",
    "pending_approve",
    "pending_decline",
    "pending_cancel",
    "pending_expire",
    "pending_only",
)
OPS = (
    "capture",
    "capture_final",
    "capture_full",
    "capture_declined",
    "refund",
    "refund_full",
    "refund_declined",
    "void",
    "void_declined",
    "expire",
    "dispute",
    "dispute_step",
)
#: Realistic next statuses of a dispute (ranks only ever go up, as in the real life cycle).
DISPUTE_NEXT: dict[str, tuple[str, ...]] = {
    "evidence_required": ("evidence_under_review", "accepted", "expired", "won", "lost", "canceled"),
    "evidence_under_review": ("won", "lost", "resolved"),
    "lost": ("arbitration_under_review",),
    "arbitration_under_review": ("arbitration_won", "arbitration_lost"),
}


@dataclass(frozen=True)
class Recorded:
    event_id: str
    event_type: str
    at: datetime
    data: dict[str, Any]
    snapshot: dict[str, Any]  # GET /payments/{id} right after the event
    index: int

    def fact(self) -> Fact | None:
        return fact_from_event(self.event_id, self.event_type, self.at, self.data)

    def body(self) -> bytes:
        """The delivery bytes, as the sandbox's dispatcher serialises an envelope."""
        return sb_render.dumps(self.envelope())

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.event_type,
            "version": "1.0.11",
            "created_on": self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "data": self.data,
        }


@dataclass
class Recorder:
    """The world's event sink: keeps every event of the payment being played."""

    world: World | None = None
    events: list[Recorded] = field(default_factory=list)
    payment_id: str | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def wants(self, event_type: str) -> bool:
        return True

    def publish(self, event_type: str, subject_id: str, created_on: datetime, build: Any) -> None:
        data = json.loads(sb_render.dumps(build(BASE)))
        assert self.world is not None
        assert self.payment_id is not None
        p = self.world.payments[self.payment_id]
        snapshot = json.loads(sb_render.dumps(sb_render.payment_details(p, BASE)))
        n = next(self._ids)
        self.events.append(
            Recorded(
                f"evt_{n:08d}{self.payment_id[-6:]}", event_type, created_on, data, snapshot, len(self.events)
            )
        )


@dataclass
class History:
    payment_id: str
    events: list[Recorded]
    final_status: str
    final_balances: dict[str, int]
    disputes: dict[str, str]  # dispute id -> final status
    final_snapshot: dict[str, Any]

    def facts(self) -> list[Fact]:
        return [f for f in (e.fact() for e in self.events) if f is not None]


_WORLD: World | None = None
_COUNTER = itertools.count(1)


def _world() -> World:
    global _WORLD
    if _WORLD is None:
        _WORLD = build_world(SandboxConfig(seed=11, days=0, payments_per_day=0, now=T0))
    return _WORLD


def play(
    start: str,
    ops: Sequence[tuple[str, int, int]],
    amount: int = 10_000,
    *,
    reference: str | None = None,
    order_id: str | None = None,
    currency: str = "EUR",
) -> History:
    """One payment's life: a start, then ``(op, percent 1..100, seconds later)`` steps.

    Steps a real merchant could not request in the payment's state (a refund before any
    capture, a void after a capture) are skipped, as the API would refuse them with 403 and
    no event; requests that are accepted may still be declined, as on the real platform.
    """
    world = _world()
    rec = Recorder(world)
    world.event_sink = rec
    ids = world.ids
    n = next(_COUNTER)
    pid = ids.new("pay")
    rec.payment_id = pid
    t = T0 + timedelta(days=n)
    world.now = t
    verify = start.startswith("verify")
    p = world.new_payment(
        payment_id=pid,
        at=t,
        amount=0 if verify else amount,
        currency=currency,
        reference=reference or f"FP-{100000 + n}",
        card=card_from_number("4242424242424242", 12, 2030, ids.new("src")),
        customer=None,
        metadata={"freshportal_order_id": order_id or str(500000 + n)},
        capture=False,
    )
    if start.startswith("pending"):
        world.start_pending(p, ids.new("sid"))
        t += timedelta(seconds=30)
        world.now = t
        outcome = start.removeprefix("pending_")
        if outcome == "expire":
            world.expire_pending(p)
        elif outcome in {"approve", "decline", "cancel"}:
            world.complete_pending(p, outcome)
    else:
        decline = "20051" if start in {"decline", "verify_decline"} else None
        world.authorize(p, t, ids.new("act"), decline)
    disputes: list[Dispute] = []
    for op, pct, dt in ops:
        t += timedelta(seconds=dt)
        world.now = t
        _step(world, p, op, pct, t, disputes)
    return History(
        payment_id=pid,
        events=list(rec.events),
        final_status=p.status,
        final_balances=p.balances(),
        disputes={d.id: d.status for d in disputes},
        final_snapshot=json.loads(sb_render.dumps(sb_render.payment_details(p, BASE))),
    )


def _part(total: int, pct: int) -> int:
    return max(1, total * pct // 100)


def _step(world: World, p: Payment, op: str, pct: int, t: datetime, disputes: list[Dispute]) -> None:
    ids = world.ids
    if op.startswith("capture"):
        if not p.can_capture():
            return
        avail = p.capturable_now()
        amount = avail if op == "capture_full" else _part(avail, pct)
        decline = "20005" if op == "capture_declined" else None
        world.apply_capture(p, t, amount, ids.new("act"), final=op == "capture_final", decline_code=decline)
    elif op.startswith("refund"):
        if not p.can_refund():
            return
        avail = p.refundable_now()
        amount = avail if op == "refund_full" else _part(avail, pct)
        decline = "20005" if op == "refund_declined" else None
        world.apply_refund(p, t, amount, ids.new("act"), decline_code=decline)
    elif op.startswith("void"):
        if not p.can_void():
            return
        world.apply_void(p, t, ids.new("act"), decline_code="20005" if op == "void_declined" else None)
    elif op == "expire":
        if p.status in {"Authorized", "Partially Captured"}:
            world.expire_authorization(p)
    elif op == "dispute":
        if p.total_captured > 0 and len(disputes) < 2:
            disputes.append(
                world.open_dispute(
                    p,
                    at=t,
                    dispute_id=ids.new("dsp"),
                    amount=_part(p.total_captured, pct),
                    category="fraudulent",
                    reason_code="10.4",
                    chargeback_action_id=ids.new("act"),
                )
            )
    elif op == "dispute_step" and disputes:
        d = disputes[pct % len(disputes)]
        nxt = DISPUTE_NEXT.get(d.status)
        if nxt:
            world.set_dispute_status(d, t, nxt[pct % len(nxt)])
