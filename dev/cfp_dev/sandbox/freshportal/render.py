"""Stored records -> FreshPortal's wire shape, with the quirks the contract documents.

* Calendar dates (``order_date``, ``delivery_date``, invoice and due dates) as ``DD-MM-YYYY``.
* Refund ``requested_at``, release ``released_at`` and note ``created_at`` as
  ``DD-MM-YYYY HH:MM:SS`` wall-clock time in the tenant's zone (the "legacy" endpoints),
  every other timestamp ISO 8601 with the tenant's UTC offset (``2024-05-06T10:15:00+02:00``).
* Amounts as decimal strings in major units (``"1234.50"``, ``"0.265"`` KWD, ``"1400"`` JPY),
  or integer minor units with ``amount_format="minor_int"``.
* Ids as JSON integers.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from checkout_freshportal.money import to_major

from .records import SbInvoice, SbLine, SbNote, SbOrder, SbRefundRequest, SbRelease


class Renderer:
    def __init__(self, amount_format: str, local_timezone: str) -> None:
        self.amount_format = amount_format
        self.tz = ZoneInfo(local_timezone)

    # ------------------------------------------------------------------ scalars
    def amount(self, minor: int | None, currency: str) -> str | int | None:
        if minor is None:
            return None
        if self.amount_format == "minor_int":
            return minor
        return str(to_major(minor, currency))

    def iso(self, ts: datetime | None) -> str | None:
        return ts.astimezone(self.tz).isoformat(timespec="seconds") if ts is not None else None

    def dmy_time(self, ts: datetime | None) -> str | None:
        return ts.astimezone(self.tz).strftime("%d-%m-%Y %H:%M:%S") if ts is not None else None

    @staticmethod
    def dmy(day: date | None) -> str | None:
        return f"{day.day:02d}-{day.month:02d}-{day.year:04d}" if day is not None else None

    # ------------------------------------------------------------------ objects
    def line(self, line: SbLine, currency: str) -> dict[str, Any]:
        return {
            "id": line.line_id,
            "article_code": line.article_code,
            "description": line.description,
            "quantity": line.quantity,
            "unit": line.unit,
            "unit_price": self.amount(line.unit_price_minor, currency),
            "line_total": self.amount(line.total_minor, currency),
        }

    def invoice(self, inv: SbInvoice, currency: str) -> dict[str, Any]:
        return {
            "id": inv.invoice_id,
            "invoice_number": inv.invoice_number,
            "invoice_date": self.dmy(inv.invoice_date),
            "due_date": self.dmy(inv.due_date),
            "total_incl_vat": self.amount(inv.amount_minor, currency),
        }

    def payment(self, stored: dict[str, Any] | None) -> dict[str, Any] | None:
        if stored is None:
            return None
        currency = stored.get("currency")
        return {
            "payment_status": stored["status"],
            "currency_code": currency,
            "amount_paid": self.amount(stored.get("amount_paid_minor"), currency) if currency else None,
            "amount_refunded": self.amount(stored.get("amount_refunded_minor"), currency)
            if currency
            else None,
            "refund_state": stored.get("refund_state"),
            "payment_link_id": stored.get("payment_link_id"),
            "payment_link_url": stored.get("payment_link_url"),
            "psp_payment_id": stored.get("payment_id"),
            "payout_reference": stored.get("payout_reference"),
            "status_changed_at": self.iso(stored.get("status_changed_at")),
            "sequence": stored.get("sequence"),
            "chargeback": self.chargeback(stored.get("chargeback")),
            "updated_at": self.iso(stored.get("updated_at")),
        }

    def chargeback(self, stored: dict[str, Any] | None) -> dict[str, Any] | None:
        if stored is None:
            return None
        return {
            "dispute_id": stored["dispute_id"],
            "category": stored.get("category"),
            "reason_code": stored.get("reason_code"),
            "amount": self.amount(stored["amount_minor"], stored["currency"]),
            "currency_code": stored["currency"],
            "status": stored["status"],
            "evidence_required_by": self.iso(stored.get("evidence_required_by")),
            "updated_at": self.iso(stored.get("updated_at")),
        }

    def order(self, order: SbOrder) -> dict[str, Any]:
        c, a = order.customer, order.billing_address
        return {
            "id": order.order_id,
            "order_number": order.order_number,
            "status": order.status,
            "order_date": self.dmy(order.order_date),
            "delivery_date": self.dmy(order.delivery_date),
            "confirmed_at": self.iso(order.confirmed_at),
            "created_at": self.iso(order.created_at),
            "updated_at": self.iso(order.updated_at),
            "version": order.version,
            "currency_code": order.currency,
            "total_incl_vat": self.amount(order.amount_minor, order.currency),
            "debtor": {
                "id": c.get("id"),
                "name": c.get("name"),
                "email": c.get("email"),
                "country_code": c.get("country"),
            },
            "billing_address": {
                "address_line_1": a.get("line1"),
                "address_line_2": a.get("line2"),
                "postal_code": a.get("postal_code"),
                "city": a.get("city"),
                "country_code": a.get("country"),
            },
            "lines": [self.line(line, order.currency) for line in order.lines],
            "invoices": [self.invoice(inv, order.currency) for inv in order.invoices],
            "payment": self.payment(order.payment),
        }

    def outcome(self, stored: dict[str, Any] | None, currency: str) -> dict[str, Any] | None:
        if stored is None:
            return None
        cur = stored.get("currency") or currency
        return {
            "status": stored["status"],
            "refunded_amount": self.amount(stored.get("refunded_amount_minor"), cur),
            "currency_code": cur,
            "psp_payment_id": stored.get("payment_id"),
            "psp_refund_id": stored.get("refund_id"),
            "processed_at": self.iso(stored.get("processed_at")),
            "failure_reason": stored.get("failure_reason"),
        }

    def refund_request(self, rr: SbRefundRequest) -> dict[str, Any]:
        return {
            "id": rr.refund_request_id,
            "order_id": rr.order_id,
            "order_number": rr.order_number,
            "amount": self.amount(rr.amount_minor, rr.currency),
            "currency_code": rr.currency,
            "reason": rr.reason,
            "status": rr.status,
            "requested_at": self.dmy_time(rr.requested_at),
            "updated_at": self.iso(rr.updated_at),
            "version": rr.version,
            "outcome": self.outcome(rr.outcome, rr.currency),
        }

    def release(self, rel: SbRelease) -> dict[str, Any]:
        return {
            "id": rel.release_id,
            "order_id": rel.order_id,
            "order_number": rel.order_number,
            "currency_code": rel.currency,
            "amount": self.amount(rel.amount_minor, rel.currency),
            "complete": rel.complete,
            "released_at": self.dmy_time(rel.released_at),
            "updated_at": self.iso(rel.updated_at),
            "version": rel.version,
        }

    def note(self, note: SbNote) -> dict[str, Any]:
        if note.typed_by is not None:
            return {
                "id": note.note_id,
                "text": note.text,
                "category": note.category,
                "external_ref": None,
                "created_at": self.dmy_time(note.created_at),
                "created_by": note.typed_by,
            }
        return {
            "id": note.note_id,
            "order_id": note.order_id,
            "text": note.text,
            "category": note.category,
            "external_ref": note.external_ref,
            "created_at": self.dmy_time(note.created_at),
            "created_by": "api",
        }

    # ------------------------------------------------------------------ export
    def export_zip(
        self, orders: Iterable[SbOrder], refunds: Iterable[SbRefundRequest], notes: Iterable[SbNote]
    ) -> bytes:
        """One CSV per table with at least one changed row (the export's documented shape)."""
        tables: dict[str, list[dict[str, Any]]] = {
            "order": [],
            "order_line": [],
            "debtor": [],
            "invoice": [],
            "order_payment": [],
            "refund_request": [],
            "order_note": [],
        }
        debtors: dict[Any, dict[str, Any]] = {}
        for o in orders:
            tables["order"].append(
                {
                    "id": o.order_id,
                    "order_number": o.order_number,
                    "debtor_id": o.customer.get("id"),
                    "status": o.status,
                    "order_date": self.dmy(o.order_date),
                    "delivery_date": self.dmy(o.delivery_date),
                    "currency_code": o.currency,
                    "total_incl_vat": self.amount(o.amount_minor, o.currency),
                    "confirmed_at": self.iso(o.confirmed_at),
                    "updated_at": self.iso(o.updated_at),
                }
            )
            for line in o.lines:
                tables["order_line"].append({"order_id": o.order_id, **self.line(line, o.currency)})
            for inv in o.invoices:
                tables["invoice"].append({"order_id": o.order_id, **self.invoice(inv, o.currency)})
            debtors[o.customer.get("id")] = {
                "id": o.customer.get("id"),
                "name": o.customer.get("name"),
                "email": o.customer.get("email"),
                "country_code": o.customer.get("country"),
            }
            pay = self.payment(o.payment)
            if pay is not None:
                pay.pop("chargeback")  # the export's order_payment table has no dispute columns
                tables["order_payment"].append({"order_id": o.order_id, **pay})
        tables["debtor"] = list(debtors.values())
        for rr in refunds:
            row = self.refund_request(rr)
            row.pop("outcome")
            outcome = rr.outcome or {}
            row["outcome_status"] = outcome.get("status")
            row["psp_refund_id"] = outcome.get("refund_id")
            tables["refund_request"].append(row)
        for note in notes:
            tables["order_note"].append(self.note(note))

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, rows in tables.items():
                if not rows:
                    continue
                text = io.StringIO()
                writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\r\n")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: "" if v is None else v for k, v in row.items()})
                zf.writestr(f"{name}.csv", text.getvalue().encode("utf-8"))
        return buf.getvalue()
