"""The account's state and its payment transitions: the base of :class:`~.world.World`.

Everything that changes a payment goes through a method here, for history generation,
scenario files, API calls and ``/_sandbox/advance`` alike, so balances obey one set of rules
(docs/checkout-com.md#balances): captured <= authorized, refunded <= captured, ``available_*`` never negative.
Steps are kept on a heap ordered by simulated time and played by :meth:`WorldCore.run_until`.
world.py adds what builds on these transitions (plans, API-requested actions, disputes); the
split keeps each module readable.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from . import cards, events
from .clock import as_offset_style, quantize
from .config import SandboxConfig
from .fees import build_financial_action, holding_currency_for, region_for
from .ids import IdFactory, derived_digits
from .ledger import ActionLedger
from .model import (
    FIXED_STATUSES,
    Account,
    Action,
    Card,
    Dispute,
    FeeOverrides,
    FinancialAction,
    Payment,
    PaymentLink,
    Payout,
    Report,
)

DataBuilder = Callable[[str], dict[str, Any]]

#: Payment sources whose captures are asynchronous: ``payment_capture_pending`` comes first.
ASYNC_CAPTURE_SOURCES = frozenset({"paypal", "ideal"})


class EventSink(Protocol):
    def wants(self, event_type: str) -> bool: ...

    def publish(self, event_type: str, subject_id: str, created_on: datetime, build: DataBuilder) -> None: ...


class WorldError(Exception):
    """A request the world refuses; ``kind`` tells the route which HTTP answer to give."""

    def __init__(self, kind: str, codes: tuple[str, ...] = (), error_type: str = "request_invalid") -> None:
        super().__init__(kind, codes)
        self.kind = kind  # "not_allowed" (403) | "invalid" (422) | "not_found" (404) | "conflict" (409)
        self.codes = codes
        self.error_type = error_type


class WorldCore:
    """All state of one simulated Checkout.com account, and the transitions of its payments."""

    def __init__(self, config: SandboxConfig, start: datetime, account: Account, ids: IdFactory) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.now = start
        self.start = start
        self.account = account
        self.ids = ids
        seed = config.seed
        self.stamp_rng = random.Random(f"stamp:{seed}")
        self.gen_rng = random.Random(f"gen:{seed}")
        self.misc_rng = random.Random(f"misc:{seed}")
        self.event_sink: EventSink | None = None
        self._heap: list[tuple[datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        # objects and indexes
        self.payments: dict[str, Payment] = {}
        self.payment_list: list[Payment] = []  # sorted by requested_on
        self.by_reference: dict[str, list[Payment]] = {}
        self.sessions: dict[str, str] = {}
        self.disputes: dict[str, Dispute] = {}
        self.financial_actions: list[FinancialAction] = []  # sorted by processed_on
        self.fa_by_payment: dict[str, list[FinancialAction]] = {}
        self.fa_by_action: dict[str, FinancialAction] = {}
        self.payouts: list[Payout] = []
        self.payouts_by_id: dict[str, Payout] = {}
        self.reports: list[Report] = []  # sorted by created_on
        self.reports_by_id: dict[str, Report] = {}
        self.report_by_file: dict[str, Report] = {}
        self.links: dict[str, PaymentLink] = {}
        self.customers: list[dict[str, Any]] = []
        self.generator: Any = None  # a generator.PlanGenerator, set by build_world
        self.now_from_wall_clock = False  # True: "now" was the wall clock, the server may catch up
        self.next_order_no = 100000
        self.settled_through: datetime | None = None  # last day whose settlement ran
        self.steps_run = 0
        self.ledger = ActionLedger()
        #: Retrieval requests (``request_for_information_received``): dispute-like, no money moves.
        self.retrievals: dict[str, Dispute] = {}

    # ------------------------------------------------------------------ time and scheduling
    def schedule(self, at: datetime, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), fn, args))

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, until: datetime) -> int:
        """Play every scheduled step due at or before ``until``, in time order."""
        ran = 0
        heap = self._heap
        while heap and heap[0][0] <= until:
            at, _, fn, args = heapq.heappop(heap)
            if at > self.now:
                self.now = at
            fn(*args)
            ran += 1
        if until > self.now:
            self.now = until
        self.steps_run += ran
        return ran

    def stamp(self, dt: datetime) -> datetime:
        """Truncate to the precision the real API would print (0-7 digits, mostly 7), in the style
        of ``timestamp_style``: ``...Z`` or ``...+00:00`` with milliseconds (see clock.py)."""
        style = self.config.timestamp_style
        if style == "offset_ms":
            return as_offset_style(dt)
        r = self.stamp_rng.random()
        if style == "mixed" and r < 0.2:
            return as_offset_style(dt)
        digits = 6 if r < 0.7 else 3 if r < 0.85 else 0 if r < 0.9 else self.stamp_rng.choice((1, 2, 4, 5))
        return quantize(dt.astimezone(UTC), digits)

    def cutoff(self, now: datetime | None = None) -> datetime:
        """Objects newer than this are not yet visible in lists, search and reports."""
        lag = self.config.list_lag_seconds
        now = now or self.now
        return now - timedelta(seconds=lag) if lag > 0 else now

    # ------------------------------------------------------------------ events
    def _emit(self, event_type: str, subject_id: str, at: datetime, build: DataBuilder) -> None:
        sink = self.event_sink
        if sink is not None and sink.wants(event_type):
            sink.publish(event_type, subject_id, at, build)

    # ------------------------------------------------------------------ indexes
    def _index_payment(self, p: Payment) -> None:
        self.payments[p.id] = p
        lst = self.payment_list
        if not lst or lst[-1].requested_on <= p.requested_on:
            lst.append(p)
        else:
            bisect.insort(lst, p, key=lambda x: x.requested_on)
        if p.reference:
            self.by_reference.setdefault(p.reference, []).append(p)

    def _add_fa(self, fa: FinancialAction) -> None:
        lst = self.financial_actions
        if not lst or lst[-1].processed_on <= fa.processed_on:
            lst.append(fa)
        else:
            bisect.insort(lst, fa, key=lambda x: x.processed_on)
        self.fa_by_payment.setdefault(fa.payment_id, []).append(fa)
        self.fa_by_action[fa.action_id] = fa

    def add_report(self, report: Report) -> None:
        lst = self.reports
        if not lst or lst[-1].created_on <= report.created_on:
            lst.append(report)
        else:
            bisect.insort(lst, report, key=lambda x: x.created_on)
        self.reports_by_id[report.id] = report
        for f in report.files:
            self.report_by_file[f.id] = report

    def find_payment(self, payment_id: str) -> Payment | None:
        if payment_id.startswith("sid_"):
            payment_id = self.sessions.get(payment_id, "")
        return self.payments.get(payment_id)

    def currency_account(self, holding: str) -> str:
        acc = self.account.currency_accounts.get(holding)
        if acc is None:
            acc = self.account.currency_accounts[holding] = self.ids.new("ca")
        return acc

    # ------------------------------------------------------------------ payments
    def new_payment(
        self,
        *,
        payment_id: str,
        at: datetime,
        amount: int,
        currency: str,
        reference: str | None,
        card: Card,
        customer: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        description: str | None = None,
        capture: bool = True,
        fees: FeeOverrides | None = None,
        holding_currency: str | None = None,
        payment_type: str = "Regular",
        source_type: str = "card",
        link_id: str | None = None,
        success_url: str | None = None,
        failure_url: str | None = None,
    ) -> Payment:
        holding = holding_currency or holding_currency_for(currency)
        p = Payment(
            id=payment_id,
            requested_on=at,
            amount=amount,
            currency=currency,
            reference=reference,
            card=card,
            customer=customer,
            metadata=dict(metadata or {}),
            description=description,
            holding_currency=holding,
            currency_account_id=self.currency_account(holding),
            region=region_for(card.issuer_country, self.account.merchant_country),
            payment_type=payment_type,
            source_type=source_type,
            capture=capture,
            fees=fees,
            link_id=link_id,
            success_url=success_url,
            failure_url=failure_url,
            updated_on=at,
        )
        self._index_payment(p)
        return p

    def authorize(self, p: Payment, at: datetime, action_id: str, decline_code: str | None) -> Action:
        """The synchronous outcome of ``POST /payments`` (or of a completed 3DS challenge)."""
        p.processed_on = at
        p.updated_on = at
        if decline_code:
            p.approved = False
            p.status = "Declined"
            p.response_code, p.response_summary = decline_code, cards.summary(decline_code)
            action = Action(
                action_id,
                "Authorization",
                at,
                p.amount,
                False,
                decline_code,
                cards.summary(decline_code),
                p.reference,
            )
            p.actions.append(action)
            kind = "card_verification_declined" if p.amount == 0 else "payment_declined"
            self._emit(kind, p.id, at, lambda base: events.authorization_data(p, action, base))
            return action
        p.approved = True
        p.auth_code = derived_digits(action_id + ":auth", 6)
        p.response_code, p.response_summary = cards.APPROVED
        if p.amount == 0:
            p.status = "Card Verified"
            action = Action(
                action_id, "Card Verification", at, 0, True, "10000", "Approved", p.reference, p.auth_code
            )
            p.actions.append(action)
            self._emit("card_verified", p.id, at, lambda base: events.authorization_data(p, action, base))
            return action
        p.status = "Authorized"
        p.total_authorized = p.amount
        p.available_to_capture = p.amount
        p.available_to_void = p.amount
        p.expires_on = at + timedelta(days=self.config.authorization_expiry_days)
        action = Action(
            action_id, "Authorization", at, p.amount, True, "10000", "Approved", p.reference, p.auth_code
        )
        p.actions.append(action)
        self._emit("payment_approved", p.id, at, lambda base: events.authorization_data(p, action, base))
        self.schedule(p.expires_on, self.expire_authorization, p)
        return action

    def _refresh_status(self, p: Payment) -> None:
        if p.status in FIXED_STATUSES:
            return
        if p.total_refunded > 0:
            full = p.total_refunded >= p.total_captured and p.available_to_capture == 0
            p.status = "Refunded" if full else "Partially Refunded"
        elif p.total_captured > 0:
            done = p.capture_final or p.total_captured >= p.total_authorized
            p.status = "Captured" if done else "Partially Captured"
        else:
            p.status = "Authorized"

    def _declined_action(
        self,
        p: Payment,
        at: datetime,
        kind: str,
        action_id: str,
        amount: int,
        reference: str | None,
        metadata: dict[str, Any] | None,
        code: str,
    ) -> Action:
        action = Action(
            action_id, kind, at, amount, False, code, cards.summary(code), reference, None, metadata
        )
        p.actions.append(action)
        p.updated_on = at
        event = {
            "Capture": "payment_capture_declined",
            "Refund": "payment_refund_declined",
            "Void": "payment_void_declined",
        }[kind]
        self._emit(event, p.id, at, lambda base: events.action_data(p, action, base))
        return action

    def apply_capture(
        self,
        p: Payment,
        at: datetime,
        amount: int,
        action_id: str,
        reference: str | None = None,
        final: bool = False,
        metadata: dict[str, Any] | None = None,
        decline_code: str | None = None,
    ) -> Action:
        if decline_code or amount <= 0 or amount > p.available_to_capture or p.status in FIXED_STATUSES:
            return self._declined_action(
                p, at, "Capture", action_id, amount, reference, metadata, decline_code or "20005"
            )
        if p.source_type in ASYNC_CAPTURE_SOURCES:  # APM captures are announced before they land
            pending = Action(
                action_id, "Capture", at, amount, True, "10000", "Approved", reference, None, metadata
            )
            self._emit(
                "payment_capture_pending", p.id, at, lambda base: events.capture_pending_data(p, pending)
            )
        p.total_captured += amount
        p.available_to_capture -= amount
        p.available_to_void = 0
        if final:
            p.available_to_capture = 0
            p.capture_final = True
        action = Action(
            action_id, "Capture", at, amount, True, "10000", "Approved", reference, None, metadata
        )
        p.actions.append(action)
        p.updated_on = at
        self._refresh_status(p)
        if p.capture_settles:  # a scenario may say this payment's captures never settle
            self._add_fa(
                build_financial_action(
                    p,
                    action_id=action_id,
                    action_type="Capture",
                    processed_on=at,
                    signed_amount=amount,
                    fee_sign=self.config.fee_sign,
                )
            )
        self._emit("payment_captured", p.id, at, lambda base: events.action_data(p, action, base))
        return action

    def apply_refund(
        self,
        p: Payment,
        at: datetime,
        amount: int,
        action_id: str,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
        decline_code: str | None = None,
        capture_action_id: str | None = None,
    ) -> Action:
        if decline_code or amount <= 0 or amount > p.available_to_refund:
            return self._declined_action(
                p, at, "Refund", action_id, amount, reference, metadata, decline_code or "20005"
            )
        p.total_refunded += amount
        action = Action(
            action_id,
            "Refund",
            at,
            amount,
            True,
            "10000",
            "Approved",
            reference,
            None,
            metadata,
            capture_action_id,
        )
        p.actions.append(action)
        p.updated_on = at
        self._refresh_status(p)
        self._add_fa(
            build_financial_action(
                p,
                action_id=action_id,
                action_type="Refund",
                processed_on=at,
                signed_amount=-amount,
                fee_sign=self.config.fee_sign,
                reference=reference or p.reference,
            )
        )
        self._emit("payment_refunded", p.id, at, lambda base: events.action_data(p, action, base))
        return action

    def apply_void(
        self,
        p: Payment,
        at: datetime,
        action_id: str,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
        decline_code: str | None = None,
    ) -> Action:
        amount = p.available_to_void
        if decline_code or not (p.status == "Authorized" and p.total_captured == 0 and amount > 0):
            return self._declined_action(
                p, at, "Void", action_id, amount, reference, metadata, decline_code or "20005"
            )
        p.total_voided += amount
        p.available_to_void = 0
        p.available_to_capture = 0
        p.status = "Voided"
        action = Action(action_id, "Void", at, amount, True, "10000", "Approved", reference, None, metadata)
        p.actions.append(action)
        p.updated_on = at
        self._emit("payment_voided", p.id, at, lambda base: events.action_data(p, action, base))
        return action

    def apply_increment(
        self,
        p: Payment,
        at: datetime,
        amount: int,
        action_id: str,
        reference: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Action:
        """An incremental authorization (docs/checkout-com.md#captures-refunds-and-voids): more may
        be captured than first authorized.

        Nothing captured yet: the increment may also be voided. The expiry stays where it was.
        """
        p.total_authorized += amount
        p.available_to_capture += amount
        if p.total_captured == 0:
            p.available_to_void += amount
        action = Action(
            action_id,
            "Authorization",
            at,
            amount,
            True,
            "10000",
            "Approved",
            reference or p.reference,
            derived_digits(action_id + ":auth", 6),
            metadata,
            incremental=True,
        )
        p.actions.append(action)
        p.updated_on = at
        self._refresh_status(p)
        self._emit(
            "payment_authorization_incremented", p.id, at, lambda base: events.action_data(p, action, base)
        )
        return action

    def expire_authorization(self, p: Payment) -> None:
        """At ``expires_on`` the uncaptured remainder lapses; untouched authorizations expire."""
        if p.available_to_capture <= 0 or p.pending_capture or p.pending_void:
            if p.pending_capture or p.pending_void:  # an accepted action is about to land: retry later
                self.schedule(
                    self.now + timedelta(seconds=max(self.config.action_delay_seconds, 1)),
                    self.expire_authorization,
                    p,
                )
            return
        at = self.stamp(self.now)
        p.available_to_capture = 0
        p.available_to_void = 0
        p.updated_on = at
        if p.total_captured == 0 and p.status == "Authorized":
            p.status = "Expired"
            self._emit("payment_expired", p.id, at, lambda base: events.expired_data(p, at, base))
        else:
            self._refresh_status(p)

    def expire_pending(self, p: Payment) -> None:
        if p.status != "Pending":
            return
        at = self.stamp(self.now)
        p.status = "Expired"
        p.updated_on = at
        self._emit("payment_expired", p.id, at, lambda base: events.expired_data(p, at, base))

    def start_pending(self, p: Payment, session_id: str) -> None:
        """A 3DS payment: 202 Pending until the challenge is completed (or it expires)."""
        p.status = "Pending"
        p.session_id = session_id
        p.three_ds = {"downgraded": False, "enrolled": "Y"}
        self.sessions[session_id] = p.id
        self._emit(
            "payment_pending",
            p.id,
            p.requested_on,
            lambda base: events.pending_data(p, p.requested_on, base),
        )
        self.schedule(
            p.requested_on + timedelta(seconds=self.config.pending_expiry_seconds), self.expire_pending, p
        )

    # ------------------------------------------------------------------ payment links
    def create_link(self, **fields: Any) -> PaymentLink:
        link = PaymentLink(id=self.ids.link_id(), **fields)
        self.links[link.id] = link
        return link

    # ------------------------------------------------------------------ orders
    def next_reference(self) -> str:
        self.next_order_no += self.gen_rng.randint(1, 3)
        return f"FP-{self.next_order_no}"
