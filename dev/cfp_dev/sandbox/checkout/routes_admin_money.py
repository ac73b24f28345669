"""``/_sandbox/*`` controls for money movements and disputes (docs/sandbox.md, "Money movements").

What tests of exactly-once refunds and captures need beyond the API: the ledger of what was
executed, declines on demand, expiring an authorization now, driving a dispute one event type at
a time, retrieval requests, and webhooks sent again or in another order. Nothing here exists on
the real API; no authentication, not counted.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from .ledger import ACTION_TYPES
from .responses import empty, json_response
from .routes_common import BadRequest, is_int, parse_json, raw_body, state
from .settlement import correct_payout
from .world import DISPUTE_EVENT_STATUS

router = APIRouter(prefix="/_sandbox")

_TYPES = {t.lower(): t for t in ACTION_TYPES}


@router.get("/actions")
def get_actions(request: Request) -> Response:
    """Captures, refunds and voids accepted by the API (202), per payment, with totals.

    ``?payment_id=`` and ``?type=refund|capture|void`` narrow it down.
    """
    q = request.query_params
    kind = q.get("type")
    if kind is not None and kind.lower() not in _TYPES:
        raise BadRequest("type_invalid")
    with state(request).synced() as world:
        return json_response(world.ledger.report(q.get("payment_id"), _TYPES[kind.lower()] if kind else None))


@router.delete("/actions")
def reset_actions(request: Request) -> Response:
    """Forget the ledger (armed declines stay); returns what it held."""
    with state(request).synced() as world:
        out = world.ledger.report()
        world.ledger.reset()
        return json_response(out)


@router.post("/declines")
def arm_decline(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"type": "refund"|"capture"|"void", "payment_id"?, "response_code"?: "20005", "count"?: 1,
    "http_status"?: 403|422}``: the next ``count`` such actions (on that payment, or any) are
    accepted then declined, or with ``http_status`` refused outright (nothing executed)."""
    data = parse_json(body)
    kind = str(data.get("type", "")).lower()
    count = data.get("count", 1)
    code = data.get("response_code", "20005")
    pid = data.get("payment_id")
    http_status = data.get("http_status")
    codes = []
    if http_status not in (None, 403, 422) or isinstance(http_status, bool):
        codes.append("http_status_invalid")
    if kind not in _TYPES:
        codes.append("type_invalid")
    if not is_int(count) or count < 1:
        codes.append("count_invalid")
    if not isinstance(code, str) or not code or code.startswith("10"):
        codes.append("response_code_invalid")
    if pid is not None and not isinstance(pid, str):
        codes.append("payment_id_invalid")
    if codes:
        raise BadRequest(*codes)
    with state(request).synced() as world:
        world.ledger.arm(_TYPES[kind], pid, code, count, http_status)
        return json_response(world.ledger.report(pid)["armed_declines"], 201)


@router.delete("/declines")
def disarm_declines(request: Request) -> Response:
    with state(request).synced() as world:
        world.ledger.armed.clear()
        return empty(204)


@router.post("/payments/{payment_id}/expire")
def expire_now(payment_id: str, request: Request) -> Response:
    """The authorization expires now (as at ``expires_on``): the uncaptured rest lapses."""
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        if p.expires_on is None or p.available_to_capture <= 0:
            return empty(403)
        p.expires_on = world.stamp(world.now)
        world.expire_authorization(p)
        return json_response({"id": p.id, "status": p.status, "balances": p.balances()})


@router.post("/disputes/{dispute_id}/events")
def dispute_events(dispute_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"event": "dispute_won"}`` or ``{"events": [...]}``: send those dispute event types now,
    in order, each moving the dispute to the status it implies (``GET /disputes/{id}`` agrees)."""
    data = parse_json(body)
    names = data.get("events", [data.get("event")] if "event" in data else [])
    if not isinstance(names, list) or not names or any(n not in DISPUTE_EVENT_STATUS for n in names):
        raise BadRequest("event_invalid")
    with state(request).synced() as world:
        d = world.disputes.get(dispute_id)
        if d is None:
            return empty(404)
        for name in names:
            world.dispute_event(d, name)
    state(request).webhooks.wake()
    return json_response({"id": d.id, "status": d.status, "events": names})


@router.post("/payments/{payment_id}/retrieval")
def retrieval(payment_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """A retrieval request (``request_for_information_received``): ``{"amount"?, "reason_code"?}``."""
    data = parse_json(body)
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        amount = data.get("amount", p.total_captured)
        if not is_int(amount) or amount <= 0 or amount > p.total_captured:
            raise BadRequest("amount_invalid")
        r = world.open_retrieval(
            p, at=world.stamp(world.now), amount=amount, reason_code=str(data.get("reason_code", "10.4"))
        )
        return json_response({"id": r.id, "payment_id": p.id}, 201)


@router.post("/webhooks/redeliver")
def redeliver(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"event_id": "evt_..."}``: deliver that event again now (same bytes)."""
    event_id = parse_json(body).get("event_id")
    if not isinstance(event_id, str):
        raise BadRequest("event_id_invalid")
    queued = state(request).webhooks.redeliver(event_id)
    return json_response({"event_id": event_id, "deliveries": queued}) if queued else empty(404)


@router.post("/webhooks/hold")
def hold(request: Request) -> Response:
    """Hold every delivery (queued and new) until ``/webhooks/release``."""
    state(request).webhooks.hold()
    return json_response({"held": True})


@router.post("/webhooks/release")
def release(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"order": "fifo"|"reverse"|"shuffle"}``: send what was held, now, in that order."""
    order = parse_json(body).get("order", "fifo")
    if order not in ("fifo", "reverse", "shuffle"):
        raise BadRequest("order_invalid")
    ids = state(request).webhooks.release(order)
    return json_response({"held": False, "order": order, "event_ids": ids})


@router.post("/payouts/{payout_id}/correct")
def correct_payout_route(payout_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"amount_minor"?: int}``: the payout's amount corrected (default: the sum of its lines,
    a scenario's ``payout_adjustment`` taken out) and its day's Payouts report issued again."""
    data = parse_json(body) if body else {}
    amount = data.get("amount_minor")
    if amount is not None and not is_int(amount):
        raise BadRequest("amount_minor_invalid")
    with state(request).synced() as world:
        if payout_id not in world.payouts_by_id:
            return json_response({"error_type": "not_found"}, status=404)
        payout = correct_payout(world, payout_id, amount)
        return json_response({"id": payout.id, "amount": payout.amount, "currency": payout.currency})
