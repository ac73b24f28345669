"""``/_sandbox/*``: control and inspection endpoints for the demo, tests and benchmarks.

No authentication and not counted as API calls. Nothing here exists on the real API.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from .build import advance
from .clock import cko_ts
from .config import RUNTIME_OPTIONS
from .responses import empty, error_response, json_response
from .routes_common import BadRequest, is_int, parse_json, raw_body, state
from .summary import build_summary
from .world import DISPUTE_STATUSES, WorldError

router = APIRouter(prefix="/_sandbox")

_SHARES = {
    "fault_429_share",
    "fault_500_share",
    "fault_slow_share",
    "fault_after_500_share",
    "fault_after_timeout_share",
    "webhook_duplicate_share",
    "webhook_reorder_share",
    "webhook_drop_share",
    "webhook_timestamp_envelope_share",
}
_BOOLS = {"search_next_links", "real_shapes", "fault_writes_only"}


@router.get("/health")
def health() -> Response:
    return json_response({"ok": True})


@router.get("/summary")
def summary(request: Request) -> Response:
    with state(request).synced() as world:
        return json_response(build_summary(world))


@router.get("/clock")
def clock(request: Request) -> Response:
    st = state(request)
    with st.synced() as world:
        return json_response(
            {
                "now": cko_ts(world.now),
                "clock_speed": st.clock.speed,
                "next_step_due": cko_ts(world.next_due()),
            }
        )


@router.post("/advance")
def post_advance(request: Request, body: bytes = Depends(raw_body)) -> Response:
    data = parse_json(body)
    hours = data.get("hours", 1)
    pph = data.get("payments_per_hour")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0 or hours > 24 * 366:
        raise BadRequest("hours_invalid")
    if pph is not None and (isinstance(pph, bool) or not isinstance(pph, (int, float)) or pph < 0):
        raise BadRequest("payments_per_hour_invalid")
    st = state(request)
    result = advance(st.world, st.clock, float(hours), None if pph is None else float(pph))
    st.webhooks.wake()
    result["from"], result["now"] = cko_ts(result["from"]), cko_ts(result["now"])
    return json_response(result)


def _settings(st: Any) -> dict[str, Any]:
    cfg = asdict(st.config)
    out = {k: cfg[k] for k in sorted(RUNTIME_OPTIONS)}
    out["clock_speed"] = st.clock.speed
    return out


@router.get("/faults")
def get_faults(request: Request) -> Response:
    return json_response(_settings(state(request)))


@router.post("/faults")
def post_faults(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """Change limits/faults at runtime: any subset of the options listed by ``GET /_sandbox/faults``."""
    st = state(request)
    data = parse_json(body)
    unknown = sorted(set(data) - RUNTIME_OPTIONS - {"clock_speed"})
    if unknown:
        return error_response(request, 422, [f"unknown_option:{k}" for k in unknown])
    codes = []
    for key, value in data.items():
        if key in _BOOLS:
            ok = isinstance(value, bool)
        elif key == "search_actions":
            ok = value in ("full", "summary")
        elif key in ("read_rps", "write_rps"):
            ok = is_int(value)
        elif key == "expired_capture_status":
            ok = value in (403, 422) and is_int(value)
        else:
            ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0
            if ok and key in _SHARES:
                ok = value <= 1
            if ok and key == "clock_speed":
                ok = value > 0
        if not ok:
            codes.append(f"invalid_option:{key}")
    cfg = st.config
    shares = [
        data.get(k, getattr(cfg, k))
        for k in (
            "fault_429_share",
            "fault_500_share",
            "fault_slow_share",
            "fault_after_500_share",
            "fault_after_timeout_share",
        )
    ]
    if not codes and sum(shares) > 1:
        codes.append("invalid_option:fault shares add up to more than 1")
    if codes:
        return error_response(request, 422, codes)
    with st.world.lock:
        for key, value in data.items():
            if key == "clock_speed":
                st.world.run_until(st.clock.now())
                st.clock.set_speed(float(value))
            else:
                setattr(cfg, key, value)
        if "read_rps" in data or "write_rps" in data:
            st.limiter.configure(cfg.read_rps, cfg.write_rps)
    st.webhooks.wake()
    return json_response(_settings(st))


@router.get("/calls")
def get_calls(request: Request) -> Response:
    return json_response(state(request).calls.snapshot())


@router.delete("/calls")
def reset_calls(request: Request) -> Response:
    st = state(request)
    snapshot = st.calls.snapshot()
    st.calls.reset()
    return json_response(snapshot)


@router.get("/webhooks")
def webhook_log(request: Request) -> Response:
    """Delivery attempts (newest last); filter with ``?event_id=`` or ``?event_type=``."""
    st = state(request)
    q = request.query_params
    entries = st.webhooks.deliveries()
    for key in ("event_id", "event_type", "workflow_id"):
        if q.get(key):
            entries = [e for e in entries if e.get(key) == q.get(key)]
    return json_response(
        {
            "pending": st.webhooks.pending(),
            "events_published": st.webhooks.events_published,
            "deliveries": entries,
        }
    )


# ------------------------------------------------------------------ scripted outcomes
@router.get("/3ds/{session_id}")
def complete_3ds_page(session_id: str, request: Request) -> Response:
    """The 3DS ``_links.redirect`` target: completing it approves the payment."""
    with state(request).synced() as world:
        p = world.find_payment(session_id)
        if p is None:
            return empty(404)
        if p.status == "Pending":
            world.complete_pending(p, "approve")
        target = p.success_url if p.approved else p.failure_url
    if target:
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}cko-session-id={session_id}", status_code=302)
    return json_response({"id": p.id, "status": p.status})


@router.post("/payments/{payment_id}/3ds")
def complete_3ds(payment_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"outcome": "approve" | "decline" | "cancel"}`` for a Pending (3DS) payment."""
    data = parse_json(body)
    outcome = data.get("outcome", "approve")
    if outcome not in ("approve", "decline", "cancel"):
        raise BadRequest("outcome_invalid")
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        try:
            world.complete_pending(p, outcome)
        except WorldError:
            return empty(403)
        return json_response({"id": p.id, "status": p.status})


@router.post("/payments/{payment_id}/dispute")
def open_dispute(payment_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """Open a dispute now: ``{"amount"?, "category"?, "reason_code"?}`` (default: all captured)."""
    data = parse_json(body)
    with state(request).synced() as world:
        p = world.find_payment(payment_id)
        if p is None:
            return empty(404)
        disputable = p.total_captured - p.total_refunded
        amount = data.get("amount", disputable)
        if not is_int(amount) or amount <= 0 or amount > disputable:
            raise BadRequest("amount_invalid")
        d = world.open_dispute(
            p,
            at=world.stamp(world.now),
            dispute_id=world.ids.new("dsp"),
            amount=amount,
            category=str(data.get("category", "fraudulent")),
            reason_code=str(data.get("reason_code", "10.4")),
            chargeback_action_id=world.ids.new("act"),
        )
        return json_response({"id": d.id, "status": d.status}, 201)


@router.post("/disputes/{dispute_id}/status")
def set_dispute_status(dispute_id: str, request: Request, body: bytes = Depends(raw_body)) -> Response:
    """Scripted dispute outcome: ``{"status": "evidence_under_review" | "won" | "lost" | ...}``."""
    data = parse_json(body)
    status = data.get("status")
    if status not in DISPUTE_STATUSES:
        raise BadRequest("status_invalid")
    with state(request).synced() as world:
        d = world.disputes.get(dispute_id)
        if d is None:
            return empty(404)
        world.set_dispute_status(d, world.stamp(world.now), status)
        return json_response({"id": d.id, "status": d.status})
