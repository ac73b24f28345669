"""Payment links (docs/checkout-com.md#payment-links): create, read, and a sandbox-only "customer
pays" action.

Links take the secret key only. Paying a link creates an ordinary ``pay_`` payment with the
link's reference, amount, currency and metadata (whether the real API copies metadata is [U];
copying it is what lets the ERP match the payment to its order).
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from checkout_freshportal.money import format_major, is_currency

from . import real_shapes, render
from .clock import cko_ts
from .responses import empty, error_response, json_response
from .routes_common import BadRequest, base_url, is_int, parse_json, raw_body, state
from .routes_payments import create_payment

router = APIRouter()


@router.post("/payment-links")
def create_link(request: Request, body: bytes = Depends(raw_body)) -> Response:
    data = parse_json(body)
    codes = []
    amount = data.get("amount")
    if amount is None:
        codes.append("amount_required")
    elif not is_int(amount) or amount < 1:
        codes.append("amount_invalid")
    currency = data.get("currency")
    if not currency:
        codes.append("currency_required")
    elif not isinstance(currency, str) or not is_currency(currency):
        codes.append("currency_invalid")
    billing = data.get("billing")
    if (
        not isinstance(billing, dict)
        or not isinstance(billing.get("address"), dict)
        or not billing["address"].get("country")
    ):
        codes.append("billing_required")
    ref = data.get("reference")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 50):
        codes.append("reference_invalid")
    desc = data.get("description")
    if desc is not None and (not isinstance(desc, str) or len(desc) > 100):
        codes.append("description_invalid")
    expires_in = data.get("expires_in", 86400)
    if not is_int(expires_in) or not 1 <= expires_in <= 5_184_000:
        codes.append("expires_in_invalid")
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        codes.append("metadata_invalid")
    if codes:
        raise BadRequest(*codes)
    with state(request).synced() as world:
        now = world.stamp(world.now)
        link = world.create_link(
            created_on=now,
            expires_on=now + timedelta(seconds=expires_in),
            amount=amount,
            currency=str(currency).upper(),
            reference=ref,
            description=desc,
            billing=billing,
            customer=data.get("customer"),
            metadata=dict(meta or {}),
            products=list(data.get("products") or []),
            capture=data.get("capture", True) is not False,
            return_url=data.get("return_url"),
            locale=data.get("locale"),
        )
        base = base_url(request)
        out: dict[str, Any] = {"id": link.id, "expires_on": cko_ts(link.expires_on)}
        if link.reference is not None:
            out["reference"] = link.reference
        out["_links"] = {
            "self": {"href": f"{base}/payment-links/{link.id}"},
            "redirect": {"href": f"{base}/_sandbox/link/{link.id}"},
        }
        if state(request).config.real_shapes:
            out = real_shapes.link_created(out)
        return json_response(out, 201)


@router.get("/payment-links/{link_id}")
def get_link(link_id: str, request: Request) -> Response:
    with state(request).synced() as world:
        link = world.links.get(link_id)
        if link is None:
            return empty(404)
        return json_response(render.link_details(link, base_url(request), world.now))


# ------------------------------------------------------------------ sandbox-only
admin_router = APIRouter(prefix="/_sandbox")


@admin_router.post("/payment-links/{link_id}/pay")
def pay_link(link_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """Simulate the customer paying: ``{"card_number"?, "decline_code"?}``; 201 payment body."""
    st = state(request)
    data = parse_json(body)
    with st.synced() as world:
        link = world.links.get(link_id)
        if link is None:
            return empty(404)
        status = link.status(world.now)
        if status == "Expired":
            return error_response(request, 422, ["payment_link_expired"], "processing_error")
        if status == "Payment Received":
            return error_response(request, 422, ["payment_link_already_paid"], "processing_error")
        source = {
            "type": "card",
            "number": str(data.get("card_number") or "4242424242424242"),
            "expiry_month": data.get("expiry_month", 12),
            "expiry_year": data.get("expiry_year", 2030),
            "billing_address": (link.billing or {}).get("address"),
        }
        payment_body = {
            "source": source,
            "amount": link.amount,
            "currency": link.currency,
            "reference": link.reference,
            "metadata": link.metadata,
            "customer": link.customer,
            "description": link.description,
            "capture": link.capture,
        }
        decline = data.get("decline_code")
        code, out = create_payment(
            st,
            world,
            payment_body,
            base_url(request),
            link_id=link.id,
            decline_code=str(decline) if decline else None,
        )
        if out.get("approved"):
            link.payment_id = out["id"]
        return json_response(out, code)


@admin_router.get("/link/{link_id}", response_class=HTMLResponse)
def link_page(link_id: str, request: Request) -> Response:
    """The ``_links.redirect`` target: a tiny page standing in for Checkout's hosted link page."""
    with state(request).synced() as world:
        link = world.links.get(link_id)
        if link is None:
            return empty(404)
        status = link.status(world.now)
        amount = format_major(link.amount, link.currency)
    ref = html.escape(link.reference or "")
    return HTMLResponse(
        f"<!doctype html><title>Pay {html.escape(link_id)}</title>"
        f"<h1>FreshPortal payment link</h1><p>Reference {ref}: <b>{html.escape(amount)}</b> ({status})</p>"
        f"<button onclick=\"fetch('/_sandbox/payment-links/{html.escape(link_id)}/pay',{{method:'POST'}})"
        f'.then(r=>r.json()).then(j=>document.body.append(JSON.stringify(j.status||j)))">'
        "Pay with test card</button>"
    )
