"""Financial actions and reports (docs/checkout-com.md#financial-actions, #reports), and the report
file storage.

Both lists page with an opaque ``pagination_token`` that appears *only* inside
``_links.next.href`` (ISSUE checkout-sdk-net#270). Tokens are keysets (the last item's time and
id), so objects created while a client pages do not shift later pages. Report files answer 302
to a pre-signed ``/_storage`` URL (architecture.md decision 3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from . import real_shapes, render
from .clock import cko_ts
from .model import FinancialAction, Report
from .reports import csv_chunks, report_rows
from .responses import JSON_TYPE, empty
from .routes_common import BadRequest, base_url, int_param, make_token, read_token, state, ts_param

router = APIRouter()


def _page_links(base: str, path: str, params: dict[str, Any], next_token: str | None) -> dict[str, Any]:
    links: dict[str, Any] = {"self": {"href": f"{base}{path}?{urlencode(params)}"}}
    if next_token is not None:
        links["next"] = {"href": f"{base}{path}?{urlencode({**params, 'pagination_token': next_token})}"}
    return links


def _after_token(secret: bytes, token: str | None, scope: dict[str, Any]) -> tuple[datetime, str] | None:
    if not token:
        return None
    data = read_token(secret, token)
    if data.get("q") != scope or not isinstance(data.get("t"), str) or not isinstance(data.get("i"), str):
        raise BadRequest("pagination_token_invalid")
    try:
        return datetime.fromisoformat(data["t"]), data["i"]
    except ValueError:
        raise BadRequest("pagination_token_invalid") from None


@router.get("/financial-actions")
def list_financial_actions(request: Request) -> Response:
    st = state(request)
    q = request.query_params
    payment_id, action_id, reference = q.get("payment_id"), q.get("action_id"), q.get("reference")
    limit = int_param(q.get("limit"), 100, 1, 100, "paging_limit_invalid")
    if not (payment_id or action_id or reference):
        raise BadRequest("payment_id_or_action_id_required")
    params = {
        k: v for k, v in (("payment_id", payment_id), ("action_id", action_id), ("reference", reference)) if v
    }
    scope = {**params, "limit": limit}
    after = _after_token(st.token_secret, q.get("pagination_token"), scope)
    params["limit"] = str(limit)
    with st.synced() as world:
        cutoff = world.cutoff()
        fas: list[FinancialAction]
        if action_id:
            fa = world.fa_by_action.get(action_id)
            fas = [fa] if fa is not None else []
        elif payment_id:
            fas = list(world.fa_by_payment.get(payment_id, []))
        else:
            fas = [fa for fa in world.financial_actions if fa.reference == reference]
        fas = [
            fa
            for fa in fas
            if fa.processed_on <= cutoff
            and (not payment_id or fa.payment_id == payment_id)
            and (not reference or fa.reference == reference)
        ]
        fas.sort(key=lambda fa: (fa.processed_on, fa.action_id), reverse=True)
        if after is not None:
            fas = [fa for fa in fas if (fa.processed_on, fa.action_id) < after]
        page, more = fas[:limit], len(fas) > limit
        token = None
        if more:
            last = page[-1]
            token = make_token(
                st.token_secret, {"q": scope, "t": last.processed_on.isoformat(), "i": last.action_id}
            )
        data = [render.financial_action(fa, world.account) for fa in page]
        links = _page_links(base_url(request), "/financial-actions", params, token)
        if st.config.real_shapes:
            data = [
                real_shapes.financial_action(d, fa.processed_on) for d, fa in zip(data, page, strict=True)
            ]
            links = real_shapes.last_page_links(links)
        body = {"count": len(page), "limit": limit, "data": data, "_links": links}
        return Response(content=render.dumps_with_decimals(body), media_type=JSON_TYPE)


def _visible_report(world: Any, report_id: str) -> Report | None:
    r = world.reports_by_id.get(report_id)
    if r is None or r.created_on > world.cutoff():
        return None
    return r


@router.get("/reports")
def list_reports(request: Request) -> Response:
    st = state(request)
    q = request.query_params
    limit = int_param(q.get("limit"), 100, 1, 100, "paging_limit_invalid")
    after_t = ts_param(q.get("created_after"), "created_after_invalid")
    before_t = ts_param(q.get("created_before"), "created_before_invalid")
    entity = q.get("entity_id")
    params = {k: q.get(k) for k in ("created_after", "created_before", "entity_id") if q.get(k)}
    scope = {**params, "limit": limit}
    after = _after_token(st.token_secret, q.get("pagination_token"), scope)
    params["limit"] = str(limit)
    with st.synced() as world:
        if entity and entity != world.account.client_entity_id:
            raise BadRequest("entity_id_invalid")
        cutoff = world.cutoff()
        found = [
            r
            for r in world.reports
            if r.created_on <= cutoff
            and (after_t is None or r.created_on >= after_t)
            and (before_t is None or r.created_on < before_t)
        ]
        found.sort(key=lambda r: (r.created_on, r.id), reverse=True)
        if after is not None:
            found = [r for r in found if (r.created_on, r.id) < after]
        page, more = found[:limit], len(found) > limit
        token = None
        if more:
            last = page[-1]
            token = make_token(st.token_secret, {"q": scope, "t": last.created_on.isoformat(), "i": last.id})
        base = base_url(request)
        data = [_report(st.config.real_shapes, r, base, world) for r in page]
        links = _page_links(base, "/reports", params, token)
        if st.config.real_shapes:
            links = real_shapes.last_page_links(links)
        body = {"count": len(page), "limit": limit, "data": data, "_links": links}
        return Response(content=render.dumps(body), media_type=JSON_TYPE)


def _report(real: bool, r: Report, base: str, world: Any) -> dict[str, Any]:
    out = render.report(r, base, world.account)
    return real_shapes.report(out, r.created_on) if real else out


@router.get("/reports/{report_id}")
def get_report(report_id: str, request: Request) -> Response:
    st = state(request)
    with st.synced() as world:
        r = _visible_report(world, report_id)
        if r is None:
            return empty(404)
        out = _report(st.config.real_shapes, r, base_url(request), world)
        return Response(content=render.dumps(out), media_type=JSON_TYPE)


@router.get("/reports/{report_id}/files/{file_id}")
def get_report_file(report_id: str, file_id: str, request: Request) -> Response:
    st = state(request)
    with st.synced() as world:
        r = _visible_report(world, report_id)
        f = next((f for f in r.files if f.id == file_id), None) if r is not None else None
        if f is None:
            return empty(404)
        location = st.signer.url(base_url(request), f.id, f.filename)
    return Response(status_code=302, headers={"Location": location})


# ------------------------------------------------------------------ storage (no API auth, S3-like)
storage_router = APIRouter()

_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>{msg}</Message></Error>"
)


def _denied(message: str) -> Response:
    return Response(
        content=_DENIED.replace(b"{msg}", message.encode()), status_code=403, media_type="application/xml"
    )


@storage_router.get("/_storage/reports/{file_id}/{filename}")
def storage_download(file_id: str, filename: str, request: Request) -> Response:
    st = state(request)
    if "authorization" in request.headers:
        return _denied(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified"
        )
    q = request.query_params
    if not st.signer.check(file_id, q.get("expires"), q.get("sig")):
        return _denied("Request has expired or the signature does not match")
    with st.synced() as world:
        r = world.report_by_file.get(file_id)
        if r is None:
            return Response(status_code=404)
        header, rows = report_rows(world, r)
        name = next(f.filename for f in r.files if f.id == file_id)
    return StreamingResponse(
        csv_chunks(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Report-Created-On": cko_ts(r.created_on) or "",
        },
    )
