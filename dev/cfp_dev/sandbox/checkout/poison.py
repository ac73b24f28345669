"""``/_sandbox/poison``: make one object, listing entry or report file unreadable on purpose.

Real data sometimes carries one object a client cannot read (a value of the wrong type, a
timestamp that does not parse, a report file whose columns are wrong). Tests of the ingestion's
quarantine (docs/runbook-ingest.md) need exactly one such item among readable ones, in a real
HTTP answer, and need to take the poison away again to see the item heal:

* ``POST /_sandbox/poison`` ``{"id": "pay_...", "patch": {...}}``: every JSON answer of the API
  that holds an object with that ``id`` (at the top or in ``data[]``: search results, a payment,
  the disputes list, a dispute, the reports list, a report) carries it changed by the JSON merge
  patch (RFC 7386: a ``null`` removes a field);
* ``POST /_sandbox/poison`` ``{"id": "file_...", "content": "..."}``: the storage download of that
  report file answers with ``content`` instead of the file; ``{"id": "file_...", "status": 404}``
  answers with that status (no body) instead, and so does any API path naming that id as one of
  its segments (``{"id": "pay_...", "status": 503}``: ``GET /payments/pay_...`` and its actions);
* ``GET`` lists the poison, ``DELETE`` removes all of it, ``DELETE /_sandbox/poison/{id}`` one.

An ASGI middleware inside the API middleware (so authentication, limits and faults still come
first) rewrites the answers; with no poison registered it passes everything through untouched.
Nothing here exists on the real API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from .render import dumps_with_decimals
from .responses import empty, json_response
from .routes_common import BadRequest, parse_json, raw_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

router = APIRouter(prefix="/_sandbox")
_STORAGE = "/_storage/reports/"


class PoisonBook:
    """The registered poison, by object or file id (thread-safe: routes run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.patches: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.statuses: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.patches or self.contents or self.statuses)

    def listing(self) -> dict[str, Any]:
        with self._lock:
            files = {k: v.decode("utf-8", "replace") for k, v in self.contents.items()}
            return {"patches": dict(self.patches), "contents": files, "statuses": dict(self.statuses)}

    def add(self, data: dict[str, Any]) -> None:
        item_id, patch, content = data.get("id"), data.get("patch"), data.get("content")
        status = data.get("status")
        if not isinstance(item_id, str) or not item_id:
            raise BadRequest("id_required")
        if [patch, content, status].count(None) != 2:
            raise BadRequest("one_of_patch_content_status_required")
        with self._lock:
            if status is not None:
                if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                    raise BadRequest("status_invalid")
                self.statuses[item_id] = status
            elif patch is not None:
                if not isinstance(patch, dict):
                    raise BadRequest("patch_invalid")
                self.patches[item_id] = patch
            else:
                if not isinstance(content, str):
                    raise BadRequest("content_invalid")
                self.contents[item_id] = content.encode("utf-8")

    def remove(self, item_id: str | None = None) -> bool:
        with self._lock:
            if item_id is None:
                self.patches.clear()
                self.contents.clear()
                self.statuses.clear()
                return True
            found = [d.pop(item_id, None) is not None for d in (self.patches, self.contents, self.statuses)]
            return any(found)

    def patch_body(self, body: bytes) -> bytes:
        """The JSON answer with poisoned objects patched (unchanged bytes when none is in it)."""
        with self._lock:
            patches = dict(self.patches)
        if not patches or not any(k.encode() in body for k in patches):
            return body
        try:
            doc = json.loads(body, parse_float=Decimal)
        except ValueError:
            return body
        if isinstance(doc, dict) and isinstance(doc.get("data"), list):
            doc["data"] = [_patched(item, patches) for item in doc["data"]]
        doc = _patched(doc, patches)
        return dumps_with_decimals(doc)


def _patched(obj: Any, patches: dict[str, dict[str, Any]]) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("id"), str) and obj["id"] in patches:
        return merge_patch(obj, patches[obj["id"]])
    return obj


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class PoisonMiddleware:
    """Serves poisoned report files and patches poisoned objects in JSON answers."""

    def __init__(self, app: Callable[..., Awaitable[None]], book: PoisonBook) -> None:
        self.app, self.book = app, book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        book = self.book
        if scope["type"] != "http" or not book or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        status = next((book.statuses[s] for s in path.split("/") if s in book.statuses), None)
        if status is not None:
            await send(
                {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if path.startswith(_STORAGE):
            file_id = path[len(_STORAGE) :].split("/", 1)[0]
            content = book.contents.get(file_id)
            if content is not None:
                headers = [
                    (b"content-type", b"text/csv; charset=utf-8"),
                    (b"content-length", str(len(content)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": content})
                return
            await self.app(scope, receive, send)
            return
        await self._patched(scope, receive, send)

    async def _patched(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, collect)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        body = b"".join(chunks)
        if any(k.lower() == b"content-type" and b"json" in v for k, v in headers):
            body = self.book.patch_body(body)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _book(request: Request) -> PoisonBook:
    book: PoisonBook = request.app.state.poison
    return book


@router.get("/poison")
def get_poison(request: Request) -> Response:
    return json_response(_book(request).listing())


@router.post("/poison")
def post_poison(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """``{"id", "patch"}`` for an API object, ``{"id", "content"}`` or ``{"id", "status"}`` for a
    report file."""
    _book(request).add(parse_json(body))
    return json_response(_book(request).listing())


@router.delete("/poison")
def delete_all_poison(request: Request) -> Response:
    _book(request).remove()
    return json_response(_book(request).listing())


@router.delete("/poison/{item_id}")
def delete_poison(item_id: str, request: Request) -> Response:
    if not _book(request).remove(item_id):
        return empty(404)
    return json_response(_book(request).listing())
