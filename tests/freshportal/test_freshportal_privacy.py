"""No secrets or full e-mails in messages; errors keep status, code and request id."""

from __future__ import annotations

import json
import pickle

import requests
from hypothesis import given
from hypothesis import strategies as st

from checkout_freshportal.freshportal import ServerError, load_mapping, mask_email
from checkout_freshportal.freshportal.errors import ValidationError, error_from_response
from checkout_freshportal.freshportal.privacy import scrub


def _response(status: int, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode()
    resp.headers.update(headers or {})
    return resp


def test_mask_email() -> None:
    assert mask_email("jan.devries@example.nl") == "j***@example.nl"
    assert mask_email("not-an-email") == "***"
    assert mask_email(None) is None


def test_server_messages_are_scrubbed() -> None:
    body = {
        "error": {
            "code": "invalid_email",
            "message": "debtor jan.devries@example.nl: bad, token Bearer abc.def",
        }
    }
    err = error_from_response(
        _response(422, body, {"X-Request-Id": "req-1"}), method="PUT", path="/v1/orders/1/payment"
    )
    assert isinstance(err, ValidationError)
    text = str(err)
    assert "jan.devries" not in text
    assert "j***@example.nl" in text
    assert "abc.def" not in text
    assert (err.status, err.code, err.request_id) == (422, "invalid_email", "req-1")
    assert "PUT /v1/orders/1/payment -> 422" in text


def test_errors_survive_pickling() -> None:
    err = ServerError("boom", status=503, request_id="r", code="down", method="GET", path="/v1/orders")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is ServerError
    assert (clone.status, clone.request_id, clone.code, clone.path) == (503, "r", "down", "/v1/orders")


def test_scrub_cuts_long_text() -> None:
    assert len(scrub("x " * 500)) <= 200


@given(
    st.integers(min_value=0, max_value=10**15),
    st.sampled_from(["EUR", "GBP", "USD", "SEK", "JPY", "KWD", "BHD", "CLP"]),
)
def test_amounts_round_trip_exactly(minor: int, currency: str) -> None:
    m = load_mapping()
    wire = m.amount_from_minor(minor, currency)
    assert isinstance(wire, str)
    assert m.amount_to_minor(wire, currency, field="amount") == minor
