"""The simulated account: objects, indexes, the step scheduler and every state transition.

The state, indexes, scheduler and payment transitions are in :class:`~.world_core.WorldCore`
(split out to keep each module readable); this module adds what builds on them: payment plans,
the actions the API accepts with a 202, and disputes.

Everything that changes state goes through a method of :class:`World`, for history generation, scenario
files, API calls and ``/_sandbox/advance`` alike, so balances obey one set of rules
(docs/checkout-com.md#balances): captured <= authorized, refunded <= captured, ``available_*`` never negative.
Steps are kept on a heap ordered by simulated time and played by :meth:`World.run_until`; the
server calls it before each request and from a background ticker, so async outcomes happen on
time whether or not anyone is asking.

One ``RLock`` (``world.lock``) guards the whole state; callers hold it around any read or write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import events
from .clock import as_offset_style, day_start
from .fees import build_financial_action
from .ids import arn_for
from .model import Dispute, Payment, PaymentPlan, PlannedAction, PlannedDispute
from .world_core import DataBuilder, EventSink, WorldCore, WorldError

__all__ = [
    "DISPUTE_CREDIT_STATUSES",
    "DISPUTE_EVENTS",
    "DISPUTE_STATUSES",
    "DataBuilder",
    "EventSink",
    "World",
    "WorldError",
]


#: Dispute status -> webhook event type.
DISPUTE_EVENTS = {
    "evidence_required": "dispute_evidence_required",
    "evidence_under_review": "dispute_evidence_submitted",
    "won": "dispute_won",
    "lost": "dispute_lost",
    "accepted": "dispute_accepted",
    "expired": "dispute_expired",
    "canceled": "dispute_canceled",
    "resolved": "dispute_resolved",
    "arbitration_under_review": "dispute_arbitration_sent_to_scheme",
    "arbitration_won": "dispute_arbitration_won",
    "arbitration_lost": "dispute_arbitration_lost",
    "arb_evidence_submitted": "dispute_arbitration_evidence_submitted",
}
#: Every dispute event type (docs/checkout-com.md#event-types) -> the status it leaves the
#: dispute in (None: unchanged). ``dispute_evidence_acknowledged_by_scheme`` keeps the dispute
#: under review; ``request_for_information_received`` concerns retrievals (``open_retrieval``).
DISPUTE_EVENT_STATUS: dict[str, str | None] = {
    "dispute_received": None,
    "dispute_evidence_acknowledged_by_scheme": "evidence_under_review",
    **{event: status for status, event in DISPUTE_EVENTS.items()},
}
#: Outcomes that give the merchant the disputed amount back.
DISPUTE_CREDIT_STATUSES = frozenset({"won", "canceled", "arbitration_won"})
DISPUTE_STATUSES = frozenset(DISPUTE_EVENTS)


class World(WorldCore):
    """All state of one simulated Checkout.com account."""

    # ------------------------------------------------------------------ plans
    def add_plan(self, plan: PaymentPlan) -> None:
        self.schedule(plan.requested_on, self._start_plan, plan)

    def _start_plan(self, plan: PaymentPlan) -> None:
        at = plan.requested_on  # generated plans are stamped already; scenario times are exact
        if self.config.timestamp_style == "offset_ms":
            at = as_offset_style(at)
        p = self.new_payment(
            payment_id=plan.payment_id,
            at=at,
            amount=plan.amount,
            currency=plan.currency,
            reference=plan.reference,
            card=plan.card,
            customer=plan.customer,
            metadata=plan.metadata,
            description=plan.description,
            capture=False,
            fees=plan.fees,
            holding_currency=plan.holding_currency,
            payment_type=plan.payment_type,
            source_type=plan.source_type,
        )
        p.processing_channel_id = plan.processing_channel_id
        p.capture_settles = plan.capture_settles
        p.payout_adjustment = plan.payout_adjustment
        self.authorize(p, at, plan.auth_action_id, plan.decline_code)
        if not p.approved:
            return
        for step in plan.actions:
            self.schedule(step.at, self._run_planned_action, p, step)
        for dispute in plan.disputes:
            self.schedule(dispute.received_on, self._run_planned_dispute, p, dispute)

    def _run_planned_action(self, p: Payment, step: PlannedAction) -> None:
        at = self.stamp(self.now)
        if step.kind == "capture":
            amount = step.amount if step.amount is not None else p.available_to_capture
            if 0 < amount <= p.capturable_now() and p.can_capture():
                self.apply_capture(
                    p,
                    at,
                    amount,
                    step.action_id,
                    step.reference,
                    step.final,
                    step.metadata,
                    decline_code=step.decline_code,
                )
        elif step.kind == "refund":
            amount = step.amount if step.amount is not None else p.available_to_refund
            if 0 < amount <= p.refundable_now() and p.can_refund():
                self.apply_refund(
                    p,
                    at,
                    amount,
                    step.action_id,
                    step.reference,
                    step.metadata,
                    decline_code=step.decline_code,
                )
        elif step.kind == "increment":
            if step.amount and p.can_capture() and not p.capture_final:
                self.apply_increment(p, at, step.amount, step.action_id, step.reference, step.metadata)
        elif step.kind == "void" and p.can_void():
            self.apply_void(
                p, at, step.action_id, step.reference, step.metadata, decline_code=step.decline_code
            )

    def _run_planned_dispute(self, p: Payment, plan: PlannedDispute) -> None:
        amount = min(plan.amount, p.total_captured)
        if amount <= 0:
            return
        if plan.retrieval:
            self.open_retrieval(p, at=self.stamp(self.now), amount=amount, reason_code=plan.reason_code)
            return
        d = self.open_dispute(
            p,
            at=self.stamp(self.now),
            dispute_id=plan.dispute_id,
            amount=amount,
            category=plan.category,
            reason_code=plan.reason_code,
            chargeback_action_id=plan.chargeback_action_id,
        )
        for when, status in plan.steps:
            self.schedule(when, self._run_dispute_step, d, status, plan.reversal_action_id)

    def _run_dispute_step(self, d: Dispute, status: str, reversal_action_id: str) -> None:
        if d.status in ("won", "lost", "accepted", "expired", "canceled", "resolved"):
            return
        self.set_dispute_status(d, self.stamp(self.now), status, reversal_action_id=reversal_action_id)

    def complete_pending(self, p: Payment, outcome: str, decline_code: str | None = None) -> None:
        if p.status != "Pending":
            raise WorldError("not_allowed")
        at = self.stamp(self.now)
        if outcome == "cancel":
            p.status = "Canceled"
            p.updated_on = at
            self._emit("payment_canceled", p.id, at, lambda base: events.lifecycle_data(p, at, base))
            return
        p.status = "Authorized"  # provisional; authorize() sets the real outcome
        code = decline_code or ("20154" if outcome == "decline" else None)
        self.authorize(p, at, self.ids.new("act"), code)
        if p.approved and p.capture and p.amount > 0:
            self.request_capture(p, None, final=True, reference=None, metadata=None)

    # ------------------------------------------------------------------ API-initiated actions (202)
    def request_capture(
        self,
        p: Payment,
        amount: int | None,
        *,
        final: bool,
        reference: str | None,
        metadata: dict[str, Any] | None,
        action_id: str | None = None,
        delay: float | None = None,
    ) -> str:
        self._refuse_if_armed(p, "Capture")
        if p.status == "Expired" and self.config.expired_capture_status == 422:
            raise WorldError("invalid", ("payment_expired",), "processing_error")
        if not p.can_capture():
            raise WorldError("not_allowed")
        capturable = p.capturable_now()
        if amount is None:
            amount = capturable
        if amount > p.total_authorized:
            raise WorldError("invalid", ("capture_value_greater_than_authorized",), "processing_error")
        if amount > capturable:
            raise WorldError(
                "invalid", ("capture_value_greater_than_remaining_authorized",), "processing_error"
            )
        action_id = action_id or self.ids.new("act")
        p.pending_capture += amount
        decline = self.ledger.decline_for(p, "Capture", metadata)
        self.ledger.record(p, action_id, "Capture", amount, reference, self.now)
        self.schedule(
            self._due(delay), self._land_capture, p, amount, action_id, reference, final, metadata, decline
        )
        return action_id

    def _land_capture(
        self,
        p: Payment,
        amount: int,
        action_id: str,
        reference: str | None,
        final: bool,
        metadata: dict[str, Any] | None,
        decline: str | None,
    ) -> None:
        p.pending_capture -= amount
        action = self.apply_capture(
            p, self.stamp(self.now), amount, action_id, reference, final, metadata, decline_code=decline
        )
        self.ledger.landed(action_id, action.approved, action.response_code)

    def request_refund(
        self,
        p: Payment,
        amount: int | None,
        *,
        reference: str | None,
        metadata: dict[str, Any] | None,
        capture_action_id: str | None = None,
    ) -> str:
        self._refuse_if_armed(p, "Refund")
        if not p.can_refund():
            raise WorldError("not_allowed")
        refundable = p.refundable_now()
        if capture_action_id is not None:
            capture = next(
                (a for a in p.actions if a.id == capture_action_id and a.type == "Capture" and a.approved),
                None,
            )
            if capture is None:
                raise WorldError("invalid", ("capture_action_id_invalid",))
            already = sum(
                a.amount
                for a in p.actions
                if a.type == "Refund" and a.approved and a.capture_action_id == capture_action_id
            )
            refundable = min(refundable, capture.amount - already)
        if amount is None:
            amount = refundable
        if amount > refundable or amount <= 0:
            raise WorldError("invalid", ("amount_exceeds_balance",), "processing_error")
        action_id = self.ids.new("act")
        p.pending_refund += amount
        decline = self.ledger.decline_for(p, "Refund", metadata)
        self.ledger.record(p, action_id, "Refund", amount, reference, self.now)
        self.schedule(
            self._due(None),
            self._land_refund,
            p,
            amount,
            action_id,
            reference,
            metadata,
            decline,
            capture_action_id,
        )
        return action_id

    def _land_refund(
        self,
        p: Payment,
        amount: int,
        action_id: str,
        reference: str | None,
        metadata: dict[str, Any] | None,
        decline: str | None,
        capture_action_id: str | None,
    ) -> None:
        p.pending_refund -= amount
        action = self.apply_refund(
            p,
            self.stamp(self.now),
            amount,
            action_id,
            reference,
            metadata,
            decline_code=decline,
            capture_action_id=capture_action_id,
        )
        self.ledger.landed(action_id, action.approved, action.response_code)

    def request_void(self, p: Payment, *, reference: str | None, metadata: dict[str, Any] | None) -> str:
        self._refuse_if_armed(p, "Void")
        if not p.can_void():
            raise WorldError("not_allowed")
        action_id = self.ids.new("act")
        p.pending_void = True
        decline = self.ledger.decline_for(p, "Void", metadata)
        self.ledger.record(p, action_id, "Void", p.available_to_void, reference, self.now)
        self.schedule(self._due(None), self._land_void, p, action_id, reference, metadata, decline)
        return action_id

    def _land_void(
        self,
        p: Payment,
        action_id: str,
        reference: str | None,
        metadata: dict[str, Any] | None,
        decline: str | None,
    ) -> None:
        p.pending_void = False
        at = self.stamp(self.now)
        action = self.apply_void(p, at, action_id, reference, metadata, decline_code=decline)
        self.ledger.landed(action_id, action.approved, action.response_code)

    def _refuse_if_armed(self, p: Payment, kind: str) -> None:
        """An armed refusal (ledger.py): 403 with no body, or 422 ``action_failure_limit_exceeded``."""
        status = self.ledger.refusal_for(p, kind)
        if status == 403:
            raise WorldError("not_allowed")
        if status == 422:
            raise WorldError("invalid", ("action_failure_limit_exceeded",), "processing_error")

    def _due(self, delay: float | None) -> datetime:
        seconds = self.config.action_delay_seconds if delay is None else delay
        return self.now + timedelta(seconds=seconds)

    # ------------------------------------------------------------------ disputes
    def open_dispute(
        self,
        p: Payment,
        *,
        at: datetime,
        dispute_id: str,
        amount: int,
        category: str,
        reason_code: str,
        chargeback_action_id: str,
        evidence_days: int = 7,
    ) -> Dispute:
        capture = next((a for a in reversed(p.actions) if a.type == "Capture" and a.approved), None)
        d = Dispute(
            id=dispute_id,
            payment_id=p.id,
            payment_action_id=capture.id if capture else None,
            category=category,
            status="evidence_required",
            amount=amount,
            currency=p.currency,
            reason_code=reason_code,
            received_on=at,
            last_update=at,
            evidence_required_by=day_start(at) + timedelta(days=evidence_days, hours=18),
            payment_arn=arn_for(capture.id if capture else chargeback_action_id),
            payment_method=p.card.payment_method,
            payment_reference=p.reference,
            history=[(at, "evidence_required")],
        )
        self.disputes[d.id] = d
        p.dispute_ids.append(d.id)
        self._add_fa(
            build_financial_action(
                p,
                action_id=chargeback_action_id,
                action_type="Chargeback",
                processed_on=at,
                signed_amount=-amount,
                fee_sign=self.config.fee_sign,
            )
        )
        self._emit_dispute("dispute_received", d, at)
        self._emit_dispute("dispute_evidence_required", d, at)
        if d.evidence_required_by is not None:
            self.schedule(d.evidence_required_by, self._expire_dispute, d)
        return d

    def _expire_dispute(self, d: Dispute) -> None:
        if d.status == "evidence_required":
            self.set_dispute_status(d, self.stamp(self.now), "expired")

    def set_dispute_status(
        self,
        d: Dispute,
        at: datetime,
        status: str,
        *,
        reversal_action_id: str | None = None,
        resolved_reason: str | None = None,
        event: str | None = None,
    ) -> None:
        """Move the dispute and send ``event`` (default: the status's own event type).

        Money follows the status: the amount comes back once on the first credit status.
        """
        if status not in DISPUTE_STATUSES:
            raise WorldError("invalid", ("dispute_status_invalid",))
        credited_before = any(h in DISPUTE_CREDIT_STATUSES for _, h in d.history)
        d.status = status
        d.last_update = at
        d.history.append((at, status))
        if resolved_reason:
            d.resolved_reason = resolved_reason
        elif status == "resolved" and d.resolved_reason is None:
            # what "resolved" means on NAS (docs/checkout-com.md#disputes)
            d.resolved_reason = "rapid_dispute_resolution"
        if status in DISPUTE_CREDIT_STATUSES and not credited_before:
            p = self.payments[d.payment_id]
            self._add_fa(
                build_financial_action(
                    p,
                    action_id=reversal_action_id or self.ids.new("act"),
                    action_type="Chargeback Reversal",
                    processed_on=at,
                    signed_amount=d.amount,
                    fee_sign=self.config.fee_sign,
                )
            )
        event = event or DISPUTE_EVENTS.get(status)
        if event:
            self._emit_dispute(event, d, at)

    def dispute_event(self, d: Dispute, event: str) -> None:
        """Send one dispute event type now, moving the dispute to the status it implies."""
        if event not in DISPUTE_EVENT_STATUS:
            raise WorldError("invalid", ("event_invalid",))
        at = self.stamp(self.now)
        status = DISPUTE_EVENT_STATUS[event]
        if status is None:
            d.last_update = at
            self._emit_dispute(event, d, at)
        else:
            self.set_dispute_status(d, at, status, event=event)

    def open_retrieval(self, p: Payment, *, at: datetime, amount: int, reason_code: str) -> Dispute:
        """A retrieval request: ``request_for_information_received``, no chargeback, no money.

        Kept apart from disputes: not listed by ``GET /disputes`` and 404 on ``GET /disputes/{id}``
        (an assumption, docs/sandbox.md); the event data has the dispute events' shape.
        """
        capture = next((a for a in reversed(p.actions) if a.type == "Capture" and a.approved), None)
        r = Dispute(
            id=self.ids.new("dsp"),
            payment_id=p.id,
            payment_action_id=capture.id if capture else None,
            category="general",
            status="retrieval",
            amount=amount,
            currency=p.currency,
            reason_code=reason_code,
            received_on=at,
            last_update=at,
            evidence_required_by=day_start(at) + timedelta(days=7, hours=18),
            payment_arn=arn_for(capture.id if capture else p.id),
            payment_method=p.card.payment_method,
            payment_reference=p.reference,
            history=[(at, "retrieval")],
        )
        self.retrievals[r.id] = r
        self._emit_dispute("request_for_information_received", r, at)
        return r

    def _emit_dispute(self, event: str, d: Dispute, at: datetime) -> None:
        account = self.account
        self._emit(event, d.id, at, lambda base: events.dispute_data(d, at, account, event))
