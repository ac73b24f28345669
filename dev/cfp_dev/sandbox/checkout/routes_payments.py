"""Payments: request, details, list by reference, search, actions, captures, refunds, voids.

docs/checkout-com.md#payments and #captures-refunds-and-voids, with the search decisions of
docs/architecture.md (1 and 2). Validation errors are 422 with documented codes; actions not allowed
in the payment's state are 403 with an empty body; unknown ids are 404 with an empty body.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from checkout_freshportal.money import is_currency

from . import cards, real_shapes, render
from .model import Payment
from .responses import empty, json_response
from .routes_common import (
    BadRequest,
    base_url,
    int_param,
    is_int,
    make_token,
    parse_json,
    raw_body,
    read_token,
    state,
    ts_param,
)
from .search_query import QueryError, compile_query
from .sources import source_type_for_token
from .state import SandboxState, SearchSnapshot
from .world import World

router = APIRouter()


# ------------------------------------------------------------------ POST /payments
def _check_card(source: dict[str, Any], now: datetime, codes: list[str]) -> None:
    number = str(source.get("number") or "").replace(" ", "")
    if not number:
        codes.append("card_number_required")
    elif not cards.luhn_ok(number):
        codes.append("card_number_invalid")
    month, year = source.get("expiry_month"), source.get("expiry_year")
    if not is_int(month) or not 1 <= month <= 12:
        codes.append("card_expiry_month_invalid")
    if not is_int(year) or year < 2000:
        codes.append("card_expiry_year_invalid")
    if is_int(month) and is_int(year) and 1 <= month <= 12 and (year, month) < (now.year, now.month):
        codes.append("card_expired")
    cvv = source.get("cvv")
    if cvv is not None and (not isinstance(cvv, str) or not cvv.isdigit() or not 3 <= len(cvv) <= 4):
        codes.append("cvv_invalid")


def validate_payment_request(body: dict[str, Any], now: datetime) -> None:
    codes: list[str] = []
    source = body.get("source")
    if not isinstance(source, dict) or not source.get("type"):
        codes.append("payment_source_required")
    elif source["type"] == "card":
        _check_card(source, now, codes)
    elif source["type"] == "id":
        if not str(source.get("id", "")).startswith("src_"):
            codes.append("source_id_invalid")
    elif source["type"] == "token":
        if not str(source.get("token", "")).startswith("tok_"):
            codes.append("token_invalid")
    else:
        codes.append("payment_source_type_invalid")
    amount = body.get("amount")
    if not is_int(amount) or amount < 0:
        codes.append("amount_invalid")
    currency = body.get("currency")
    if currency is None or currency == "":
        codes.append("currency_required")
    elif not isinstance(currency, str) or not is_currency(currency):
        codes.append("currency_invalid")
    ref = body.get("reference")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 50):
        codes.append("reference_invalid")
    if "capture" in body and not isinstance(body["capture"], bool):
        codes.append("capture_invalid")
    pc = body.get("processing_channel_id")
    if pc is not None and (not isinstance(pc, str) or not pc.startswith("pc_")):
        codes.append("processing_channel_id_invalid")
    meta = body.get("metadata")
    if meta is not None and (
        not isinstance(meta, dict) or any(isinstance(v, (dict, list)) for v in meta.values())
    ):
        codes.append("metadata_invalid")
    if body.get("capture_on") is not None:
        try:
            ts_param(str(body["capture_on"]), "capture_on_invalid")
        except BadRequest:
            codes.append("capture_on_invalid")
    if codes:
        raise BadRequest(*codes)


def create_payment(
    st: SandboxState,
    world: World,
    body: dict[str, Any],
    base: str,
    *,
    link_id: str | None = None,
    decline_code: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Shared by ``POST /payments`` and the sandbox's payment-link "pay" action."""
    cfg = st.config
    now = world.now
    source = body["source"]
    number = str(source.get("number") or "4242424242424242").replace(" ", "")
    exp_m = source.get("expiry_month") if is_int(source.get("expiry_month")) else 12
    exp_y = source.get("expiry_year") if is_int(source.get("expiry_year")) else 2030
    card = cards.card_from_number(
        number,
        exp_m,
        exp_y,
        world.ids.new("src"),
        name=source.get("name"),
        issuer_country=(source.get("billing_address") or {}).get("country") or "NL",
    )
    amount: int = body["amount"]
    currency = str(body["currency"]).upper()
    decline = decline_code or cards.DECLINE_CARDS.get(number)
    customer = body.get("customer")
    if isinstance(customer, dict) and customer and "id" not in customer:
        customer = {
            "id": world.ids.new("cus"),
            **{k: v for k, v in customer.items() if k in ("email", "name")},
        }
    elif not isinstance(customer, dict) or not customer:
        customer = None
    capture = body.get("capture", True)
    p = world.new_payment(
        payment_id=world.ids.new("pay"),
        at=world.stamp(now),
        amount=amount,
        currency=currency,
        reference=body.get("reference"),
        card=card,
        customer=customer,
        metadata=body.get("metadata"),
        description=body.get("description"),
        capture=capture,
        payment_type=str(body.get("payment_type") or "Regular"),
        source_type=source_type_for_token(str(source["token"])) if source["type"] == "token" else "card",
        link_id=link_id,
        success_url=body.get("success_url"),
        failure_url=body.get("failure_url"),
    )
    p.processing_channel_id = body.get("processing_channel_id")
    three_ds = body.get("3ds")
    if isinstance(three_ds, dict) and three_ds.get("enabled") and not decline:
        sid = world.ids.new("sid")
        world.start_pending(p, sid)
        return 202, render.payment_created(p, None, base, redirect=f"{base}/_sandbox/3ds/{sid}")
    action = world.authorize(p, p.requested_on, world.ids.new("act"), decline)
    if p.approved and capture and amount > 0:
        capture_on = (
            ts_param(body.get("capture_on"), "capture_on_invalid") if body.get("capture_on") else None
        )
        if capture_on is not None and capture_on > now:
            world.schedule(capture_on, _scheduled_capture, world, p)
        else:
            world.request_capture(p, None, final=True, reference=None, metadata=None)
        if number == cards.DISPUTE_TRIGGER_CARD and amount == cards.DISPUTE_TRIGGER_AMOUNT and exp_y == 2099:
            world.schedule(now + timedelta(seconds=cfg.dispute_delay_seconds), _trigger_dispute, world, p, 0)
    return 201, render.payment_created(p, action, base)


def _scheduled_capture(world: World, p: Payment) -> None:
    if p.can_capture():
        world.request_capture(p, None, final=True, reference=None, metadata=None, delay=0)


def _trigger_dispute(world: World, p: Payment, tries: int) -> None:
    """docs/checkout-com.md#sandbox-test-data: card 4242..., expiry 01/2099, amount 1040 -> a
    dispute ~1 min later."""
    if p.total_captured <= 0:
        if tries < 5:
            world.schedule(world.now + timedelta(seconds=60), _trigger_dispute, world, p, tries + 1)
        return
    world.open_dispute(
        p,
        at=world.stamp(world.now),
        dispute_id=world.ids.new("dsp"),
        amount=p.total_captured,
        category="fraudulent",
        reason_code="10.4",
        chargeback_action_id=world.ids.new("act"),
    )


@router.post("/payments")
def post_payment(request: Request, body: bytes = Depends(raw_body)) -> Response:
    st = state(request)
    data = parse_json(body)
    with st.synced() as world:
        validate_payment_request(data, world.now)
        status, out = create_payment(st, world, data, base_url(request))
    return json_response(out, status)


# ------------------------------------------------------------------ reads
@router.get("/payments/{payment_id}")
def get_payment(payment_id: str, request: Request) -> Response:
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        out = render.payment_details(p, base_url(request), actions="summary")
        if state(request).config.real_shapes:
            out = real_shapes.payment_get(out)
        return json_response(out)


@router.get("/payments/{payment_id}/actions")
def get_actions(payment_id: str, request: Request) -> Response:
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        base = base_url(request)
        return json_response([render.action_full(a, p, base) for a in render.actions_newest_first(p)])


@router.get("/payments")
def list_payments(request: Request) -> Response:
    q = request.query_params
    reference = q.get("reference")
    limit = int_param(q.get("limit"), 10, 1, 100, "paging_limit_invalid")
    skip = int_param(q.get("skip"), 0, 0, None, "paging_skip_invalid")
    if not reference:
        raise BadRequest("reference_required")
    with state(request).synced() as world:
        cutoff = world.cutoff()
        matches = [p for p in world.by_reference.get(reference, []) if p.requested_on <= cutoff]
        matches.sort(key=lambda p: (p.requested_on, p.id), reverse=True)
        base = base_url(request)
        page = [render.payment_details(p, base, actions="summary") for p in matches[skip : skip + limit]]
        return json_response({"limit": limit, "skip": skip, "total_count": len(matches), "data": page})


# ------------------------------------------------------------------ search
def _search_page(
    st: SandboxState, world: World, search_id: str, snap: SearchSnapshot, offset: int, base: str
) -> dict[str, Any]:
    ids = snap.ids[offset : offset + snap.limit]
    data = [render.payment_details(world.payments[i], base, actions=snap.actions) for i in ids]
    if st.config.real_shapes:
        data = [_real_search_item(world, item) for item in data]
    out: dict[str, Any] = {"data": data}
    nxt = offset + snap.limit
    if st.config.search_next_links and nxt < len(snap.ids):
        token = make_token(st.token_secret, {"s": search_id, "o": nxt})
        out["_links"] = {"next": {"href": f"{base}/payments/search/{search_id}?token={token}"}}
    else:
        out["_links"] = {}
    return out


def _real_search_item(world: World, item: dict[str, Any]) -> dict[str, Any]:
    p = world.payments[item["id"]]
    disputes = [world.disputes[d] for d in p.dispute_ids if d in world.disputes]
    return real_shapes.search_item(item, p, disputes)


@router.post("/payments/search")
def search_payments(request: Request, body: bytes = Depends(raw_body)) -> Response:
    st = state(request)
    data = parse_json(body, empty_ok=False)
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("query_required")
    if len(query) > 1024:
        raise BadRequest("query_invalid")
    limit = data.get("limit", 10)
    if not is_int(limit) or not 1 <= limit <= 1000:
        raise BadRequest("paging_limit_invalid")
    start = ts_param(data.get("from"), "from_invalid") if data.get("from") is not None else None
    end = ts_param(data.get("to"), "to_invalid") if data.get("to") is not None else None
    if start is not None and end is not None and end < start:
        raise BadRequest("date_range_invalid")
    try:
        pred = compile_query(query)
    except QueryError:
        raise BadRequest("query_invalid") from None
    with st.synced() as world:
        cutoff = world.cutoff()
        lst = world.payment_list
        key = lambda p: p.requested_on  # noqa: E731
        lo = bisect.bisect_left(lst, start, key=key) if start is not None else 0
        # [from, to) on requested_on (architecture.md decision 1), and only what is visible
        if end is None or end > cutoff:
            hi = bisect.bisect_right(lst, cutoff, key=key)
        else:
            hi = bisect.bisect_left(lst, end, key=key)
        found = [p for p in lst[lo:hi] if pred(p)]
        found.sort(key=lambda p: (p.requested_on, p.id), reverse=True)
        search_id = world.ids.new("srch")
        snap = SearchSnapshot([p.id for p in found], limit, st.config.search_actions)
        if len(found) > limit and st.config.search_next_links:
            st.remember_search(search_id, snap)
        return json_response(_search_page(st, world, search_id, snap, 0, base_url(request)))


@router.get("/payments/search/{search_id}")
def search_next(search_id: str, request: Request) -> Response:
    st = state(request)
    token = request.query_params.get("token")
    if not token:
        raise BadRequest("pagination_token_invalid")
    payload = read_token(st.token_secret, token)
    if payload.get("s") != search_id or not is_int(payload.get("o")):
        raise BadRequest("pagination_token_invalid")
    with st.synced() as world:
        snap = st.searches.get(search_id)
        if snap is None:
            return empty(404)
        return json_response(_search_page(st, world, search_id, snap, payload["o"], base_url(request)))


# ------------------------------------------------------------------ captures, refunds, voids
def _action_body(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    codes = []
    if (
        "amount" in data
        and data["amount"] is not None
        and (not is_int(data["amount"]) or data["amount"] <= 0)
    ):
        codes.append("amount_invalid")
    ref = data.get("reference")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 50):
        codes.append("reference_invalid")
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        codes.append("metadata_invalid")
    if data.get("capture_type") not in (None, "NonFinal", "Final"):
        codes.append("capture_type_invalid")
    if codes:
        raise BadRequest(*codes)
    return data


def _accepted(action_id: str, reference: str | None, payment_id: str, base: str) -> Response:
    out: dict[str, Any] = {"action_id": action_id}
    if reference is not None:
        out["reference"] = reference
    out["_links"] = {"payment": {"href": f"{base}/payments/{payment_id}"}}
    return json_response(out, 202)


@router.post("/payments/{payment_id}/captures")
def capture(payment_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    data = _action_body(body)
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        action_id = world.request_capture(
            p,
            data.get("amount"),
            final=data.get("capture_type") == "Final",
            reference=data.get("reference"),
            metadata=data.get("metadata"),
        )
        return _accepted(action_id, data.get("reference"), p.id, base_url(request))


@router.post("/payments/{payment_id}/refunds")
def refund(payment_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    data = _action_body(body)
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        action_id = world.request_refund(
            p,
            data.get("amount"),
            reference=data.get("reference"),
            metadata=data.get("metadata"),
            capture_action_id=data.get("capture_action_id"),
        )
        return _accepted(action_id, data.get("reference"), p.id, base_url(request))


@router.post("/payments/{payment_id}/voids")
def void(payment_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    data = _action_body(body)
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        action_id = world.request_void(p, reference=data.get("reference"), metadata=data.get("metadata"))
        return _accepted(action_id, data.get("reference"), p.id, base_url(request))
