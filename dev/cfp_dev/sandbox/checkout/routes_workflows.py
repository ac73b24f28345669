"""Workflows (docs/checkout-com.md#workflows): register webhook actions, list them, delete them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response

from .responses import empty, json_response
from .routes_common import BadRequest, base_url, parse_json, raw_body, state
from .webhooks import Workflow

router = APIRouter()


def _validate(data: dict[str, Any]) -> None:
    actions = data.get("actions")
    if not isinstance(actions, list) or not actions:
        raise BadRequest("actions_required")
    codes = []
    for a in actions:
        if not isinstance(a, dict) or a.get("type") != "webhook":
            codes.append("action_type_invalid")
            continue
        parts = urlsplit(str(a.get("url") or ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            codes.append("url_invalid")
        headers = a.get("headers")
        if headers is not None and not isinstance(headers, dict):
            codes.append("headers_invalid")
        sig = a.get("signature")
        if sig is not None and (not isinstance(sig, dict) or sig.get("method", "HMACSHA256") != "HMACSHA256"):
            codes.append("signature_invalid")
    conditions = data.get("conditions")
    if conditions is not None and (
        not isinstance(conditions, list)
        or any(not isinstance(c, dict) or "type" not in c for c in conditions)
    ):
        codes.append("conditions_invalid")
    elif conditions:
        for cond in conditions:
            events = cond.get("events") if cond["type"] == "event" else {}
            lists = events.values() if isinstance(events, dict) else [None]
            if not all(isinstance(names, list) and all(isinstance(n, str) for n in names) for names in lists):
                codes.append("conditions_invalid")
    if codes:
        raise BadRequest(*sorted(set(codes)))


def _workflow_json(wf: Workflow, base: str) -> dict[str, Any]:
    return {
        "id": wf.id,
        "name": wf.name,
        "active": wf.active,
        "conditions": wf.conditions,
        "actions": [
            {
                "id": a.id,
                "type": "webhook",
                "url": a.url,
                "headers": a.headers,
                "signature": {"method": a.signature_method},
            }
            for a in wf.actions
        ],
        "_links": {"self": {"href": f"{base}/workflows/{wf.id}"}},
    }


@router.post("/workflows")
def create_workflow(request: Request, body: bytes = Depends(raw_body)) -> Response:
    data = parse_json(body, empty_ok=False)
    _validate(data)
    st = state(request)
    with st.world.lock:
        wf = st.webhooks.register(data)
    return json_response(
        {"id": wf.id, "_links": {"self": {"href": f"{base_url(request)}/workflows/{wf.id}"}}}, 201
    )


@router.get("/workflows")
def list_workflows(request: Request) -> Response:
    st = state(request)
    base = base_url(request)
    data = [
        {
            "id": wf.id,
            "name": wf.name,
            "active": wf.active,
            "_links": {"self": {"href": f"{base}/workflows/{wf.id}"}},
        }
        for wf in list(st.webhooks.workflows.values())
    ]
    return json_response({"data": data})


@router.get("/workflows/{workflow_id}")
def get_workflow(workflow_id: str, request: Request) -> Response:
    wf = state(request).webhooks.workflows.get(workflow_id)
    if wf is None:
        return empty(404)
    return json_response(_workflow_json(wf, base_url(request)))


@router.delete("/workflows/{workflow_id}")
def delete_workflow(workflow_id: str, request: Request) -> Response:
    if not state(request).webhooks.remove(workflow_id):
        return empty(404)
    return Response(status_code=204)
