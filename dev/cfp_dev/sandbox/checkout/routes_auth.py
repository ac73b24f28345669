"""``POST /connect/token``: the OAuth client-credentials grant (docs/checkout-com.md#oauth).

Client id and secret are accepted in the form body, in HTTP Basic auth, or both (the Python SDK
sends both). Errors are 400 ``{"error": ...}`` with the RFC 6749 codes.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Depends, Request, Response

from .auth import TokenError
from .responses import json_response
from .routes_common import raw_body, state

router = APIRouter()


@router.post("/connect/token")
def token(request: Request, body: bytes = Depends(raw_body)) -> Response:
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return json_response({"error": "invalid_client"}, 400)
        basic_id, _, basic_secret = decoded.partition(":")
        basic_id, basic_secret = unquote(basic_id), unquote(basic_secret)
        if (client_id and client_id != basic_id) or (client_secret and client_secret != basic_secret):
            return json_response({"error": "invalid_request"}, 400)
        client_id, client_secret = basic_id, basic_secret
    try:
        out = state(request).auth.issue_token(
            client_id, client_secret, form.get("grant_type"), form.get("scope")
        )
    except TokenError as exc:
        return json_response({"error": exc.error}, 400)
    resp = json_response(out, 200)
    resp.headers["Cache-Control"] = "no-store"
    return resp
