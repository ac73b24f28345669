"""Mapping of raw HTTP responses to exceptions, and what their messages may show."""

from __future__ import annotations

import json
import pickle

import pytest
import requests

from checkout_freshportal.checkout import (
    ActionNotAllowedError,
    AuthenticationError,
    CheckoutError,
    CheckoutTransportError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnexpectedStatusError,
    ValidationError,
    error_from_response,
)


def make_response(
    status: int, body: object | bytes | None = None, headers: dict[str, str] | None = None
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = "Reason"
    resp.headers.update(headers or {})
    if body is None:
        resp._content = b""
    elif isinstance(body, bytes):
        resp._content = body
    else:
        resp._content = json.dumps(body).encode()
        resp.headers["Content-Type"] = "application/json"
    resp.url = "https://api.sandbox.checkout.com/payments/pay_x/refunds?secret=1"
    return resp


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (403, ActionNotAllowedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (400, UnexpectedStatusError),
        (405, UnexpectedStatusError),
        (418, UnexpectedStatusError),
        (304, UnexpectedStatusError),
    ],
)
def test_status_to_class(status: int, cls: type[CheckoutError]) -> None:
    err = error_from_response(make_response(status), method="POST", path="/payments/pay_x/refunds")
    assert type(err) is cls
    assert isinstance(err, CheckoutError)
    assert err.status == status


def test_validation_body_fields_and_str() -> None:
    body = {
        "request_id": "req_123",
        "error_type": "processing_error",
        "error_codes": ["amount_exceeds_balance"],
        "source": {"number": "4242424242424242", "cvv": "100"},
    }
    resp = make_response(422, body, {"Cko-Request-Id": "hdr_999", "Authorization": "Bearer sk_sbox_zzz"})
    err = error_from_response(resp, method="POST", path="/payments/pay_x/refunds")
    assert isinstance(err, ValidationError)
    assert err.request_id == "req_123"  # body wins over the header
    assert err.error_type == "processing_error"
    assert err.error_codes == ("amount_exceeds_balance",)
    text = str(err)
    for part in (
        "POST",
        "/payments/pay_x/refunds",
        "422",
        "processing_error",
        "amount_exceeds_balance",
        "req_123",
    ):
        assert part in text
    for secret in ("4242424242424242", "sk_sbox", "Bearer", "secret=1", "cvv"):
        assert secret not in text
        assert secret not in repr(err)


def test_request_id_falls_back_to_header_for_empty_403() -> None:
    err = error_from_response(
        make_response(403, None, {"Cko-Request-Id": "0HM-abc"}), method="POST", path="/x"
    )
    assert isinstance(err, ActionNotAllowedError)
    assert err.request_id == "0HM-abc"
    assert err.error_type is None
    assert err.error_codes == ()
    assert "0HM-abc" in str(err)


def test_html_and_array_bodies_are_ignored() -> None:
    err = error_from_response(make_response(502, b"<html>Bad gateway</html>"), method="GET", path="/p")
    assert isinstance(err, ServerError)
    assert err.error_type is None
    err = error_from_response(make_response(422, ["x"]), method="GET", path="/p")
    assert err.error_codes == ()


def test_unexpected_4xx_says_so() -> None:
    err = error_from_response(
        make_response(400, {"error_type": "request_malformed"}), method="GET", path="/p"
    )
    assert type(err) is UnexpectedStatusError
    assert isinstance(err, CheckoutError)
    assert "unexpected HTTP status" in str(err)
    assert "request_malformed" in str(err)


def test_oauth_token_error_is_authentication_error() -> None:
    err = error_from_response(
        make_response(400, {"error": "invalid_client"}), method="POST", path="/connect/token"
    )
    assert isinstance(err, AuthenticationError)
    assert err.error_type == "invalid_client"


def test_retry_after_is_parsed_when_numeric() -> None:
    assert error_from_response(make_response(429, None, {"Retry-After": "2"}), path="/p").retry_after == 2.0
    assert (
        error_from_response(make_response(429, None, {"Retry-After": "Wed, 21 Oct"}), path="/p").retry_after
        is None
    )


def test_pickle_round_trip_keeps_attributes() -> None:
    err = error_from_response(make_response(404, {"request_id": "r1"}), method="GET", path="/payments/pay_1")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is NotFoundError
    assert (back.status, back.request_id, back.path, str(back)) == (404, "r1", "/payments/pay_1", str(err))
    t = pickle.loads(pickle.dumps(CheckoutTransportError("read timeout", request_sent=False, path="/x")))
    assert t.request_sent is False
    assert "read timeout" in str(t)
