"""Which Checkout.com payment a refund request is about, and the port the refund steps use.

The warehouse knows the order's payments (by the FreshPortal order id the status machine
resolved, or by the order number every payment carries as ``reference``); only when it knows
none is Checkout.com asked by reference. Of several, the one that can best take the refund is
chosen: approved, in the request's currency, with the most captured and not yet refunded, the
newest first on a tie -- then read fresh (``GET /payments/{id}``) for validation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.warehouse import schema


class CheckoutMoney(Protocol):
    def get_payment(self, payment_id: str) -> Mapping[str, Any]: ...
    def get_payment_actions(self, payment_id: str) -> list[Any]: ...
    def list_payments_by_reference(self, reference: str, limit: int = ...) -> Iterator[dict]: ...
    def refund_payment(
        self, payment_id: str, body: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> Any: ...
    def void_payment(
        self, payment_id: str, body: Mapping[str, Any] | None = None, idempotency_key: str | None = None
    ) -> Any: ...


def _rank(currency: str, row: Mapping[str, Any]) -> tuple[int, int, int, str]:
    captured = row.get("total_captured_minor") or 0
    refunded = row.get("total_refunded_minor") or 0
    voidable = row.get("available_to_void_minor") or 0
    same_currency = 1 if str(row.get("currency") or "").upper() == currency.upper() else 0
    approved = 0 if row.get("approved") is False else 1
    return (approved * same_currency, captured - refunded, voidable, str(row.get("requested_on") or ""))


def warehouse_candidates(
    conn: Connection, *, order_id: str, order_number: str | None, currency: str
) -> list[str]:
    """The order's payments the warehouse knows, best candidate first."""
    p, s = schema.stg_payments, schema.stg_payment_status
    ids: set[str] = {r[0] for r in conn.execute(sa.select(s.c.payment_id).where(s.c.order_id == order_id))}
    if order_number:
        ids |= {r[0] for r in conn.execute(sa.select(p.c.payment_id).where(p.c.reference == order_number))}
        ids |= {r[0] for r in conn.execute(sa.select(s.c.payment_id).where(s.c.reference == order_number))}
    if not ids:
        return []
    rows = {
        r.payment_id: dict(r._mapping)
        for r in conn.execute(
            sa.select(
                p.c.payment_id,
                p.c.currency,
                p.c.approved,
                p.c.requested_on,
                p.c.total_captured_minor,
                p.c.total_refunded_minor,
                p.c.available_to_void_minor,
            ).where(p.c.payment_id.in_(sorted(ids)))
        )
    }
    # A payment known only to the status machine (webhook before ingestion) has its balances there.
    for r in conn.execute(
        sa.select(
            s.c.payment_id,
            s.c.currency,
            s.c.total_captured_minor,
            s.c.total_refunded_minor,
            s.c.available_to_void_minor,
        ).where(s.c.payment_id.in_(sorted(ids - set(rows))))
    ):
        rows[r.payment_id] = dict(r._mapping)
    ranked = sorted(rows.values(), key=lambda row: _rank(currency, row), reverse=True)
    return [str(r["payment_id"]) for r in ranked]


def api_candidates(cko: CheckoutMoney, order_number: str | None, currency: str) -> list[str]:
    """Ask Checkout.com by reference (one read) when the warehouse knows no payment."""
    if not order_number:
        return []
    found = [dict(p) for p in cko.list_payments_by_reference(order_number) if isinstance(p, Mapping)]
    rows = []
    for pay in found:
        raw = pay.get("balances")
        balances: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        rows.append(
            {
                "payment_id": pay.get("id"),
                "currency": pay.get("currency"),
                "approved": pay.get("approved"),
                "requested_on": pay.get("requested_on"),
                "total_captured_minor": balances.get("total_captured"),
                "total_refunded_minor": balances.get("total_refunded"),
                "available_to_void_minor": balances.get("available_to_void"),
            }
        )
    ranked = sorted((r for r in rows if isinstance(r["payment_id"], str)), key=lambda r: _rank(currency, r))
    return [str(r["payment_id"]) for r in reversed(ranked)]
