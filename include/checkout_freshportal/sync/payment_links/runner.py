"""What one run of a payment-link step shares: the clients, the tenant's statuses, the result.

The create and write-back steps (:mod:`.decision`, :mod:`.send`, :mod:`.writeback`) are
functions over one :class:`Runner`, so each reads the mapping's statuses once per run and every
per-order outcome lands in the same :class:`RunResult`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from checkout_freshportal.freshportal.mapping import FreshPortalMapping
from checkout_freshportal.freshportal.models import Order, OrderPayment, Page, PaymentStatusUpdate
from checkout_freshportal.logsafe import safe_masked
from checkout_freshportal.sync.payment_links import store
from checkout_freshportal.sync.payment_links.body import LinkDataError
from checkout_freshportal.sync.payment_links.errors import (
    PaymentRequestsDeferred,
    PaymentRequestsRefused,
)
from checkout_freshportal.sync.payment_links.settings import (
    SETTLED_CHECKOUT_STATUSES,
    PaymentRequestSettings,
)

log = logging.getLogger(__name__)

#: Named points of the flow where tests inject a crash (``checkpoint(point, intent_id)``).
CHECKPOINTS = ("intent_written", "before_post", "after_post", "after_record", "before_writeback")
Checkpoint = Callable[[str, str], None]


class FreshPortalPort(Protocol):
    mapping: FreshPortalMapping

    def get_orders_page(self, cursor: str | None = None, limit: int | None = None) -> Page[Order]: ...
    def get_order(self, order_id: str) -> Order: ...
    def write_payment_status(self, order_id: str, update: PaymentStatusUpdate) -> OrderPayment: ...


class CheckoutLinks(Protocol):
    def create_payment_link(self, body: Mapping[str, Any]) -> dict: ...
    def get_payment_link(self, link_id: str) -> dict: ...
    def list_payments_by_reference(self, reference: str, limit: int = ...) -> Iterator[dict]: ...


@dataclass
class RunResult:
    step: str
    counts: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    intents: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "counts": dict(self.counts),
            "refused": list(self.refused),
            "deferred": list(self.deferred),
            "intents": dict(self.intents),
        }

    def raise_for_failures(self) -> None:
        """Loud failure after the whole batch had its chance (one bad order blocks nobody)."""
        if self.refused:
            raise PaymentRequestsRefused(
                f"{self.step}: {len(self.refused)} order(s) refused (fix them in FreshPortal; they are "
                "retried when the order changes)",
                self.refused + self.deferred,
            )
        if self.deferred:
            raise PaymentRequestsDeferred(
                f"{self.step}: {len(self.deferred)} order(s) deferred (transient); a retry resumes them",
                self.deferred,
            )


def describe(exc: BaseException) -> str:
    """Class and message of an error for ``last_error`` and task logs.

    The clients' messages carry method, path, status, error codes and request id, never a body,
    a credential or an e-mail (FreshPortal messages are scrubbed by its client).
    """
    text = f"{exc.code}: {exc}" if isinstance(exc, LinkDataError) else str(exc)
    # error codes come from Checkout.com, which may echo a card number or an address in them
    return safe_masked(f"{type(exc).__name__}: {text}", limit=store.MAX_ERROR_CHARS)


def _no_checkpoint(point: str, intent_id: str) -> None:
    return None


class Runner:
    """One step run: the tenant's statuses are checked once here, so a bad mapping fails the run
    before any order is touched."""

    def __init__(
        self,
        fp: FreshPortalPort,
        cko: CheckoutLinks | None,
        engine: Engine,
        settings: PaymentRequestSettings,
        *,
        step: str,
        clock: Callable[[], datetime],
        run_id: str | None,
        checkpoint: Checkpoint | None,
    ) -> None:
        self.fp, self.cko, self.engine, self.settings = fp, cko, engine, settings
        self.clock, self.run_id = clock, run_id
        self.checkpoint = checkpoint or _no_checkpoint
        self.result = RunResult(step)
        m = fp.mapping
        self.mapping = m
        self.link_status_fp = m.check_payment_status(
            settings.link_payment_status or m.payment_status_for("Pending")
        )
        self.expired_status_fp = m.check_payment_status(
            settings.expired_payment_status or m.payment_status_for("Expired")
        )
        self.settled_fp = frozenset(m.payment_status_for(s) for s in SETTLED_CHECKOUT_STATUSES) - {
            self.link_status_fp,
            self.expired_status_fp,
        }

    def eligible(self, order: Order) -> str | None:
        """None when the order should have a live link; else why not (a count name)."""
        if not order.confirmed:
            return "not_confirmed"
        if order.amount_minor < 1:
            return "zero_amount"
        if order.payment is not None and order.payment.status in self.settled_fp:
            return "already_paid"
        after = self.settings.confirmed_after
        if after is not None and (order.confirmed_at is None or order.confirmed_at < after):
            return "confirmed_before_cutoff"
        return None

    def check_link(self, intent: store.Intent) -> str:
        """``GET /payment-links/{id}``: record and return its status."""
        assert self.cko is not None
        assert intent.link_id
        link = self.cko.get_payment_link(intent.link_id)
        status = str(link.get("status") or "")
        with self.engine.begin() as conn:
            store.record_link_status(
                conn, intent.intent_id, status=status, payment_id=link.get("payment_id"), now=self.clock()
            )
        return status

    def paid_while_in_doubt(self, intent: store.Intent) -> bool:
        """Did anyone pay a link of this intent? Its payment carries our ``metadata.intent_id``.

        Payments are listable by reference, links are not; a link whose id we lost cannot have
        reached a customer (its URL was never written anywhere), so this is a belt-and-braces check.
        """
        assert self.cko is not None
        for payment in self.cko.list_payments_by_reference(intent.reference):
            meta = payment.get("metadata") or {}
            if meta.get("intent_id") == intent.intent_id and payment.get("approved") is True:
                with self.engine.begin() as conn:
                    store.record_paid_in_doubt(
                        conn, intent, payment_id=str(payment.get("id")), now=self.clock()
                    )
                log.warning("in-doubt intent %s: its link was paid (%s)", intent.intent_id, payment.get("id"))
                return True
        return False

    def finish(self) -> RunResult:
        """Attach the intents summary: the step's XCom shows the whole table's state."""
        with self.engine.connect() as conn:
            self.result.intents = store.summary(conn)
        return self.result
