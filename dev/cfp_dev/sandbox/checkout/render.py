"""API objects as JSON, in the field names and shapes of the real API (docs/checkout-com.md).

Rendering happens at request time from the live objects, so a payment read twice shows its
current balances; ids, acquirer numbers and auth codes are derived from stored ids, never
random at render time, so the same object always renders the same way.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from checkout_freshportal.money import exponent

from .clock import cko_ts
from .fees import format_decimal
from .ids import arn_for, derived_digits
from .model import Account, Action, Dispute, FinancialAction, Payment, PaymentLink, Report
from .sources import render_source


# ---------------------------------------------------------------- JSON bytes
def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; stable key order as built."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_DEC_TOKEN = re.compile(r'"\\u0000(\d+)\\u0000"')


def dumps_with_decimals(obj: Any) -> bytes:
    """JSON where ``Decimal`` values become exact JSON numbers (never passing through float)."""
    decimals: list[str] = []

    def walk(value: Any) -> Any:
        if isinstance(value, Decimal):
            decimals.append(format(value, "f"))
            return f"\x00{len(decimals) - 1}\x00"
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(obj), ensure_ascii=False, separators=(",", ":"))
    return _DEC_TOKEN.sub(lambda m: decimals[int(m.group(1))], text).encode("utf-8")


# ---------------------------------------------------------------- payments
@lru_cache(maxsize=1 << 16)
def _scheme_id(payment_id: str) -> str:
    return derived_digits(payment_id + ":scheme", 15)


def scheme_id(p: Payment) -> str:
    return _scheme_id(p.id)


def processing(action: Action) -> dict[str, str]:
    return dict(_processing(action.id, action.type, action.approved))


@lru_cache(maxsize=1 << 17)
def _processing(action_id: str, action_type: str, approved: bool) -> tuple[tuple[str, str], ...]:
    out = [("acquirer_transaction_id", derived_digits(action_id + ":atid", 10))]
    if action_type in ("Authorization", "Card Verification"):
        out.append(("retrieval_reference_number", derived_digits(action_id + ":rrn", 12)))
    elif action_type in ("Capture", "Refund") and approved:
        out.append(("acquirer_reference_number", arn_for(action_id)))
    return tuple(out)


def source(p: Payment, *, webhook: bool = False) -> dict[str, Any]:
    return render_source(p, webhook=webhook)


def payment_links(p: Payment, base: str) -> dict[str, Any]:
    self_href = f"{base}/payments/{p.id}"
    links: dict[str, Any] = {"self": {"href": self_href}, "actions": {"href": f"{self_href}/actions"}}
    if p.can_capture():
        links["capture"] = {"href": f"{self_href}/captures"}
    if p.can_void():
        links["void"] = {"href": f"{self_href}/voids"}
    if p.can_refund():
        links["refund"] = {"href": f"{self_href}/refunds"}
    return links


def action_summary(a: Action) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": a.type,
        "response_code": a.response_code,
        "response_summary": a.response_summary,
    }


def action_full(a: Action, p: Payment, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "type": a.type,
        "processed_on": cko_ts(a.processed_on),
        "amount": a.amount,
        "approved": a.approved,
        "response_code": a.response_code,
        "response_summary": a.response_summary,
    }
    if a.auth_code:
        out["auth_code"] = a.auth_code
    if a.type == "Authorization":
        out["authorization_type"] = "Incremental" if a.incremental else "Final"
    if a.reference is not None:
        out["reference"] = a.reference
    if a.metadata:
        out["metadata"] = a.metadata
    out["processing"] = processing(a)
    out["_links"] = {"self": {"href": f"{base}/payments/{p.id}/actions"}}
    return out


def actions_newest_first(p: Payment) -> list[Action]:
    return sorted(p.actions, key=lambda a: a.processed_on, reverse=True)


def payment_details(p: Payment, base: str, actions: str | None = "summary") -> dict[str, Any]:
    """``GET /payments/{id}`` (and the items of list/search); ``actions`` = summary|full|None."""
    out: dict[str, Any] = {
        "id": p.id,
        "requested_on": cko_ts(p.requested_on),
        "source": source(p),
        "amount": p.amount,
        "amount_requested": p.amount,
        "currency": p.currency,
        "payment_type": p.payment_type,
        "reference": p.reference,
        "description": p.description,
        "approved": p.approved,
        "status": p.status,
        "balances": p.balances(),
        "risk": {"flagged": False, "score": 12},
        "customer": p.customer,
        "metadata": p.metadata,
        "processed_on": cko_ts(p.processed_on),
        "expires_on": cko_ts(p.expires_on) if p.approved and p.expires_on else None,
        "eci": "05" if p.approved else None,
        "scheme_id": scheme_id(p) if p.approved else None,
        "response_code": p.response_code,
        "response_summary": p.response_summary,
        "auth_code": p.auth_code,
        "processing_channel_id": p.processing_channel_id,
        "3ds": p.three_ds,
    }
    if p.actions:
        out["processing"] = processing(p.actions[0])
    if actions == "summary":
        out["actions"] = [action_summary(a) for a in actions_newest_first(p)]
    elif actions == "full":
        out["actions"] = [action_full(a, p, base) for a in actions_newest_first(p)]
    out["_links"] = payment_links(p, base)
    return {k: v for k, v in out.items() if v is not None}


def payment_created(
    p: Payment, action: Action | None, base: str, redirect: str | None = None
) -> dict[str, Any]:
    """The 201 (processed) or 202 (pending 3DS) body of ``POST /payments``."""
    if p.status == "Pending":
        out: dict[str, Any] = {
            "id": p.id,
            "status": "Pending",
            "reference": p.reference,
            "customer": p.customer,
            "3ds": p.three_ds,
            "_links": {"self": {"href": f"{base}/payments/{p.id}"}, "redirect": {"href": redirect}},
        }
        return {k: v for k, v in out.items() if v is not None}
    assert action is not None
    out = {
        "id": p.id,
        "action_id": action.id,
        "amount": p.amount,
        "currency": p.currency,
        "approved": p.approved,
        "status": p.status,
        "auth_code": p.auth_code,
        "response_code": p.response_code,
        "response_summary": p.response_summary,
        "balances": p.balances(),
        "risk": {"flagged": False},
        "source": source(p),
        "customer": p.customer,
        "processed_on": cko_ts(p.processed_on),
        "reference": p.reference,
        "scheme_id": scheme_id(p) if p.approved else None,
        "processing": processing(action),
        "expires_on": cko_ts(p.expires_on) if p.approved and p.expires_on else None,
        "metadata": p.metadata or None,
        "_links": payment_links(p, base),
    }
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------- disputes
def dispute_item(d: Dispute, base: str, account: Account) -> dict[str, Any]:
    return {
        "id": d.id,
        "category": d.category,
        "status": d.status,
        "amount": d.amount,
        "currency": d.currency,
        "reason_code": d.reason_code,
        "payment_id": d.payment_id,
        "payment_action_id": d.payment_action_id,
        "payment_reference": d.payment_reference,
        "payment_method": d.payment_method,
        "payment_arn": d.payment_arn,
        "received_on": cko_ts(d.received_on),
        "last_update": cko_ts(d.last_update),
        "evidence_required_by": cko_ts(d.evidence_required_by),
        "entity_id": account.client_entity_id,
        "sub_entity_id": account.sub_entity_id,
        "processing_channel": account.processing_channel_id,
        "resolved_reason": d.resolved_reason,
        "is_ce_candidate": False,
        "_links": {"self": {"href": f"{base}/disputes/{d.id}"}},
    }


def dispute_details(d: Dispute, p: Payment | None, base: str, account: Account) -> dict[str, Any]:
    payment: dict[str, Any] | None = None
    if p is not None:
        payment = {
            "id": p.id,
            "action_id": d.payment_action_id,
            "amount": p.amount,
            "currency": p.currency,
            "method": d.payment_method,
            "arn": d.payment_arn,
            "processed_on": cko_ts(p.processed_on),
            "processing_channel_id": account.processing_channel_id,
            "mcc": account.mcc,
            "has_refund": p.total_refunded > 0,
            "reference": p.reference,
        }
    return {
        "id": d.id,
        "entity_id": account.client_entity_id,
        "sub_entity_id": account.sub_entity_id,
        "category": d.category,
        "amount": d.amount,
        "currency": d.currency,
        "reason_code": d.reason_code,
        "status": d.status,
        "resolved_reason": d.resolved_reason,
        "is_ce_candidate": False,
        "relevant_evidence": ["proof_of_delivery_or_service", "invoice_or_receipt"],
        "evidence_required_by": cko_ts(d.evidence_required_by),
        "received_on": cko_ts(d.received_on),
        "last_update": cko_ts(d.last_update),
        "payment": payment,
        "_links": {
            "self": {"href": f"{base}/disputes/{d.id}"},
            "evidence": {"href": f"{base}/disputes/{d.id}/evidence"},
        },
    }


# ---------------------------------------------------------------- financial actions and reports
def financial_action(fa: FinancialAction, account: Account) -> dict[str, Any]:
    """An item of ``GET /financial-actions``; amounts stay ``Decimal`` (see dumps_with_decimals)."""
    return {
        "payment_id": fa.payment_id,
        "action_id": fa.action_id,
        "action_type": fa.action_type,
        "entity_id": account.client_entity_id,
        "sub_entity_id": account.sub_entity_id,
        "currency_account_id": fa.currency_account_id,
        "payment_method": fa.payment_method,
        "processing_channel_id": account.processing_channel_id,
        "reference": fa.reference,
        "mid": account.mid,
        "response_code": "10000",
        "response_description": "Approved",
        "region": fa.region,
        "card_type": fa.card_type,
        "card_category": fa.card_category,
        "issuer_country": fa.issuer_country,
        "merchant_category_code": account.mcc,
        "acquirer_reference_number": arn_for(fa.action_id),
        "processed_on": cko_ts(fa.processed_on),
        "requested_on": cko_ts(fa.requested_on),
        "breakdown": [
            {
                "breakdown_type": line.breakdown_type,
                "fx_rate_applied": fa.fx_rate,
                "holding_currency": fa.holding_currency,
                "holding_currency_amount": line.holding_amount,
                "processing_currency": fa.processing_currency,
                "processing_currency_amount": line.processing_amount,
                "transaction_currency": fa.transaction_currency,
                "transaction_currency_amount": line.transaction_amount,
                "processing_to_transaction_currency_fx_rate": Decimal(1),
                "transaction_to_holding_currency_fx_rate": fa.fx_rate,
                **({"fee_detail": line.fee_detail} if line.fee_detail else {}),
            }
            for line in fa.lines
        ],
    }


def report(r: Report, base: str, account: Account) -> dict[str, Any]:
    return {
        "id": r.id,
        "created_on": cko_ts(r.created_on),
        "last_modified_on": cko_ts(r.created_on),
        "type": r.type,
        "description": r.description,
        "account": {"client_id": account.client_id, "entity_id": account.client_entity_id},
        "tags": list(r.tags),
        "from": cko_ts(r.from_),
        "to": cko_ts(r.to),
        "files": [
            {
                "id": f.id,
                "filename": f.filename,
                "format": "CSV",
                "_links": {"self": {"href": f"{base}/reports/{r.id}/files/{f.id}"}},
            }
            for f in r.files
        ],
        "_links": {"self": {"href": f"{base}/reports/{r.id}"}},
    }


def amount_text(value: Decimal, currency: str) -> str:
    """Major units for CSVs: at least the currency's decimals, at most 8, never scientific."""
    return format_decimal(value, exponent(currency))


# ---------------------------------------------------------------- payment links
def link_details(link: PaymentLink, base: str, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": link.id,
        "status": link.status(now),
        "payment_id": link.payment_id,
        "amount": link.amount,
        "currency": link.currency,
        "reference": link.reference,
        "description": link.description,
        "created_on": cko_ts(link.created_on),
        "expires_on": cko_ts(link.expires_on),
        "customer": link.customer,
        "billing": link.billing,
        "products": link.products or None,
        "metadata": link.metadata,
        "locale": link.locale,
        "return_url": link.return_url,
        "_links": {
            "self": {"href": f"{base}/payment-links/{link.id}"},
            "redirect": {"href": f"{base}/_sandbox/link/{link.id}"},
        },
    }
    if link.payment_id:
        out["_links"]["payment"] = {"href": f"{base}/payments/{link.payment_id}"}
        out["_links"]["payment_actions"] = {"href": f"{base}/payments/{link.payment_id}/actions"}
    return {k: v for k, v in out.items() if v is not None}
