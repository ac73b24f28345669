"""Hand-built warehouse rows for reconciliation tests: staged rows inserted directly, with
defaults that make a clean, fully matched order unless a test says otherwise."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile.service import ReconcileResult, run_reconciliation
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.warehouse import schema

#: The instant tests reconcile at.
T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONFIRMED = ("confirmed", "picking", "delivered", "invoiced")


def email_hash(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()


class World:
    """Rows go straight into the staged tables; ``stamp`` is their ``updated_at``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.stamp = T - timedelta(days=20)
        self._n = 0

    def _ins(self, table: sa.Table, **values: Any) -> dict[str, Any]:
        with self.engine.begin() as conn:
            conn.execute(table.insert().values(**values))
        return values

    def _book(self) -> dict[str, Any]:
        return {"first_seen_at": self.stamp, "updated_at": self.stamp, "source": "test"}

    def update(self, table: sa.Table, where: Any, **values: Any) -> None:
        """Changes staged rows the way the loaders do: ``updated_at`` moves to ``stamp``."""
        if "updated_at" in table.c:
            values.setdefault("updated_at", self.stamp)
        with self.engine.begin() as conn:
            conn.execute(table.update().where(where).values(**values))

    def order(
        self,
        oid: str,
        amount: int = 1000,
        currency: str = "EUR",
        *,
        status: str = "confirmed",
        confirmed_at: datetime | None = None,
        number: str | None = None,
        email: str | None = None,
        invoices: list[str] | None = None,
        payment_status: str | None = None,
    ) -> dict[str, Any]:
        return self._ins(
            schema.stg_orders,
            order_id=oid,
            order_number=number or f"ORD-{oid}",
            status=status,
            confirmed_at=confirmed_at or T - timedelta(days=10),
            currency=currency,
            amount_minor=amount,
            line_count=1,
            customer_email_hash=email_hash(email) if email else None,
            invoice_numbers=invoices,
            payment_status=payment_status,
            **self._book(),
        )

    def payment(
        self,
        pid: str,
        amount: int = 1000,
        currency: str = "EUR",
        *,
        reference: str | None = None,
        status: str = "Captured",
        captured: int | None = -1,
        refunded: int | None = 0,
        available: int | None = 0,
        metadata: dict[str, Any] | None = None,
        email: str | None = None,
        requested_on: datetime | None = None,
    ) -> dict[str, Any]:
        """``captured=-1``: the whole amount (the default); ``None``: balance unknown."""
        return self._ins(
            schema.stg_payments,
            payment_id=pid,
            status=status,
            requested_on=requested_on or T - timedelta(days=9),
            currency=currency,
            amount_minor=amount,
            total_captured_minor=amount if captured == -1 else captured,
            total_refunded_minor=refunded,
            available_to_capture_minor=available,
            reference=reference,
            metadata=metadata,
            customer_email_hash=email_hash(email) if email else None,
            **self._book(),
        )

    def action(
        self,
        aid: str,
        pid: str,
        kind: str = "Capture",
        amount: int = 1000,
        currency: str = "EUR",
        *,
        processed_on: datetime | None = None,
        approved: bool = True,
    ) -> dict[str, Any]:
        return self._ins(
            schema.stg_payment_actions,
            action_id=aid,
            payment_id=pid,
            action_type=kind,
            processed_on=processed_on or T - timedelta(days=9),
            currency=currency,
            amount_minor=amount,
            approved=approved,
            **self._book(),
        )

    def line(
        self,
        aid: str,
        pid: str | None,
        e8: int,
        currency: str = "EUR",
        *,
        kind: str = "Capture",
        breakdown: str = "Gross",
        payout: str | None = None,
        processed_on: datetime | None = None,
    ) -> dict[str, Any]:
        """A financial-action line (amount in exact 1e-8 major units), paid out in ``payout``."""
        self._n += 1
        key = str(uuid.UUID(int=self._n))
        at = processed_on or T - timedelta(days=8)
        row = self._ins(
            schema.stg_financial_actions,
            processed_on=at,
            line_key=key,
            occurrence=1,
            action_id=aid,
            action_type=kind,
            breakdown_type=breakdown,
            payment_id=pid,
            holding_currency=currency,
            holding_amount_e8=e8,
            holding_amount_minor=0,  # not read by reconciliation (it sums the exact e8)
            source_file_id="file_test",
            **self._book(),
        )
        if payout:
            self._ins(
                schema.stg_financial_action_payouts,
                processed_on=at,
                line_key=key,
                payout_id=payout,
                source_file_id="file_test",
                **self._book(),
            )
        return row

    def payout(
        self, po: str, amount_minor: int, currency: str = "EUR", *, fee_e8: int | None = None
    ) -> dict[str, Any]:
        return self._ins(
            schema.stg_payouts,
            payout_id=po,
            currency=currency,
            payout_date=date(2026, 3, 5),
            payout_amount_e8=0,
            payout_amount_minor=amount_minor,
            merchant_payout_fees_e8=fee_e8,
            source_file_id="file_test",
            **self._book(),
        )

    def dispute(
        self, did: str, pid: str, status: str, amount: int = 1000, currency: str = "EUR"
    ) -> dict[str, Any]:
        return self._ins(
            schema.stg_disputes,
            dispute_id=did,
            payment_id=pid,
            status=status,
            currency=currency,
            amount_minor=amount,
            last_update=self.stamp,
            **self._book(),
        )

    def refund_request(
        self,
        rid: str,
        oid: str,
        amount: int = 500,
        currency: str = "EUR",
        *,
        state: str = "requested",
        requested_at: datetime | None = None,
        outcome_refund_id: str | None = None,
    ) -> dict[str, Any]:
        return self._ins(
            schema.stg_refund_requests,
            refund_request_id=rid,
            order_id=oid,
            currency=currency,
            amount_minor=amount,
            fp_status="x",
            state=state,
            requested_at=requested_at or T - timedelta(days=3),
            outcome_refund_id=outcome_refund_id,
            **self._book(),
        )

    def intent(
        self, iid: str, request_key: str, oid: str, *, state: str, action_id: str | None = None
    ) -> dict[str, Any]:
        return self._ins(
            schema.sync_money_intents,
            intent_id=iid,
            kind="refund",
            request_key=request_key,
            order_id=oid,
            currency="EUR",
            amount_minor=500,
            idempotency_key=iid,
            state=state,
            action_id=action_id,
            created_at=self.stamp,
            attempts=1,
            writeback_attempts=0,
            updated_at=self.stamp,
        )

    def payment_status(
        self, pid: str, oid: str, fp_status: str | None, *, at: datetime | None = None
    ) -> dict[str, Any]:
        return self._ins(
            schema.stg_payment_status,
            payment_id=pid,
            order_id=oid,
            freshportal_status=fp_status,
            version=1,
            events_applied=1,
            state={},
            first_seen_at=at or self.stamp,
            updated_at=at or self.stamp,
            source="test",
        )

    def status_outbox(
        self, oid: str, pid: str, version: int, status: str, *, at: datetime | None = None
    ) -> None:
        """A delivered status-outbox row: ``pid`` spoke for order ``oid`` at ``version``."""
        when = at or self.stamp
        self._ins(
            schema.sync_status_outbox,
            order_id=oid,
            version=version,
            payment_id=pid,
            freshportal_status=status,
            payload={},
            created_at=when,
            delivered_at=when,
            outcome="delivered",
        )

    def paid_order(self, oid: str, amount: int = 1000, currency: str = "EUR", **kw: Any) -> str:
        """A confirmed order with one captured payment (R1), captured and paid out: clean."""
        pid = f"pay_{oid}"
        self.order(oid, amount, currency, **kw)
        self.payment(pid, amount, currency, reference=f"ORD-{oid}")
        return pid


def reconcile(engine: sa.Engine, run_id: str, at: datetime = T, **kw: Any) -> ReconcileResult:
    settings = kw.pop("settings", None) or ReconcileSettings(full_every=timedelta(days=7))
    return run_reconciliation(engine, settings, run_id=run_id, as_of=at, confirmed_statuses=CONFIRMED, **kw)


def exceptions(engine: sa.Engine, *, status: str | None = None) -> dict[str, dict[str, Any]]:
    e = schema.recon_exceptions
    sel = sa.select(e)
    if status:
        sel = sel.where(e.c.status == status)
    with engine.connect() as conn:
        return {r.exception_key: dict(r._mapping) for r in conn.execute(sel)}


def open_keys(engine: sa.Engine) -> set[str]:
    return set(exceptions(engine, status="open"))


def matches(engine: sa.Engine) -> set[tuple[str, str, str, bool, str]]:
    m = schema.recon_matches
    with engine.connect() as conn:
        return {
            (r.order_id, r.payment_id, r.rule, r.confirmed, r.match_group)
            for r in conn.execute(
                sa.select(m.c.order_id, m.c.payment_id, m.c.rule, m.c.confirmed, m.c.match_group)
            )
        }
