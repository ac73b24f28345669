"""Disputes (docs/checkout-com.md#disputes): list with skip/limit and ``total_count``, details, accept.

``from``/``to`` filter on ``last_update`` (inclusive ``from``, exclusive ``to``, like search);
results newest first by ``last_update``. With ``list_lag_seconds`` a dispute updated within the
lag is missing from the list until the index catches up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from . import real_shapes, render
from .responses import empty, json_response
from .routes_common import BadRequest, base_url, int_param, state, ts_param

router = APIRouter()


@router.get("/disputes")
def list_disputes(request: Request) -> Response:
    q = request.query_params
    limit = int_param(q.get("limit"), 50, 1, 250, "paging_limit_invalid")
    skip = int_param(q.get("skip"), 0, 0, None, "paging_skip_invalid")
    start = ts_param(q.get("from"), "from_invalid")
    end = ts_param(q.get("to"), "to_invalid")
    statuses = {s.strip() for s in (q.get("statuses") or "").split(",") if s.strip()}
    filters = {k: q.get(k) for k in ("id", "payment_id", "payment_reference", "payment_arn") if q.get(k)}
    if start is not None and end is not None and end < start:
        raise BadRequest("date_range_invalid")
    with state(request).synced() as world:
        cutoff = world.cutoff()
        found = []
        for d in world.disputes.values():
            if d.last_update > cutoff:
                continue
            if start is not None and d.last_update < start:
                continue
            if end is not None and d.last_update >= end:
                continue
            if statuses and d.status not in statuses:
                continue
            if any(getattr(d, k) != v for k, v in filters.items()):
                continue
            found.append(d)
        found.sort(key=lambda d: (d.last_update, d.id), reverse=True)
        base = base_url(request)
        out: dict[str, Any] = {"limit": limit, "skip": skip}
        for key in ("from", "to", "statuses", "id", "payment_id", "payment_reference", "payment_arn"):
            if q.get(key):
                out[key] = q.get(key)
        out["total_count"] = len(found)
        out["data"] = [render.dispute_item(d, base, world.account) for d in found[skip : skip + limit]]
        if state(request).config.real_shapes:
            out["data"] = [real_shapes.dispute_item(item) for item in out["data"]]
        return json_response(out)


@router.get("/disputes/{dispute_id}")
def get_dispute(dispute_id: str, request: Request) -> Response:
    st = state(request)
    with st.synced() as world:
        d = world.disputes.get(dispute_id)
        if d is None:
            return empty(404)
        out = render.dispute_details(d, world.payments.get(d.payment_id), base_url(request), world.account)
        return json_response(real_shapes.dispute_details(out) if st.config.real_shapes else out)
