"""A stored webhook body keeps parsing to the same event once its e-mail addresses are masked,
whatever escapes the sender's JSON encoder chose.

.NET's System.Text.Json escapes ``+`` as ``\\u002B`` by default, other encoders escape every
non-ASCII character (``\\u00f6``); a mask applied to the bytes without reading the JSON strings
cut such an escape in half (``jan\\u***@example.nl``), and ``checkout_events`` then set the
payment's event aside as unparsable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from checkout_freshportal.checkout.webhooks import body_sha256, parse_envelope
from checkout_freshportal.freshportal.privacy import mask_emails, mask_emails_in_bytes
from checkout_freshportal.sidecar.store import record_from_body

PREFIX = b'{"id":"evt_az5sblvku4ge3dwpztvyizgcau","type":"payment_captured","data":{"id":"pay_1",'


@pytest.mark.parametrize(
    ("customer", "must_not_remain"),
    [
        (rb'"email":"jan\u002Bshop@example.nl"', b"shop@"),  # .NET's default '+'
        (rb'"email":"\u00e9lise@example.nl"', b"lise@"),  # escaped first character
        (rb'"email":"J\u00f6ns.Berg@example.nl"', b"Berg@"),  # escaped inside the local part
        (rb'"email":"jan\u0040example.nl"', b"jan\\u0040"),  # even the '@' escaped
        (rb'"note":"line\njan@example.nl"', b"jan@"),  # after a two-character escape
        ('"email":"jöns.berg@example.nl"'.encode(), "jöns".encode()),  # raw UTF-8 local part
    ],
)
def test_masked_body_still_parses_to_the_same_event(customer: bytes, must_not_remain: bytes) -> None:
    raw = PREFIX + b'"customer":{' + customer + b'},"amount":6540}}'
    json.loads(raw)  # the delivery is valid JSON
    record = record_from_body(raw, 0)
    assert not record.is_poison
    doc = json.loads(record.body)  # and so is what is stored
    assert must_not_remain not in record.body
    env = parse_envelope(record.body)
    assert (env.id, env.type, env.subject_id) == (record.event_id, record.event_type, record.subject_id)
    assert doc["data"]["amount"] == 6540
    stored = doc["data"]["customer"].get("email") or doc["data"]["customer"]["note"]
    assert "***@example.nl" in stored
    assert record.row(datetime.now(UTC))["body_sha256"] == body_sha256(raw)


def test_strings_without_an_address_keep_their_bytes() -> None:
    raw = PREFIX + rb'"a":"caf\u00e9 \"x\"","b":"Bj\u00f6rk <bjork@example.nl>","c":"na\u00efve"}}'
    out = mask_emails_in_bytes(raw)
    assert out.startswith(PREFIX + rb'"a":"caf\u00e9 \"x\"",')  # untouched escapes
    assert out.endswith(rb'"c":"na\u00efve"}}')
    assert json.loads(out)["data"]["b"] == "Björk <b***@example.nl>"


def test_a_body_that_is_not_json_is_still_masked() -> None:
    raw = b"email=ann@shop.example&x=1"
    assert mask_emails_in_bytes(raw) == b"email=a***@shop.example&x=1"


def test_an_unclosed_string_is_read_once() -> None:
    """A body of escaped quotes that never closes: each quote is not a new scan to the end."""
    raw = b'{"note":"ann@shop.example' + b'\\"' * 200_000
    out = mask_emails_in_bytes(raw)
    assert out.startswith(b'{"note":"a***@shop.example\\"')
    assert len(out) == len(raw) + 1  # "ann" -> "a***", nothing else changed


def test_a_long_run_without_an_address_is_read_once() -> None:
    """Every position of a 200,000-character run was a new start scanning to its end (a signed
    body held the sidecar's event loop for minutes); a start is now only where a run begins."""
    text = "a" * 200_000 + "@ and ann@shop.example"
    assert mask_emails(text).endswith("@ and a***@shop.example")
    raw = b'{"note":"' + text.encode() + b'"}'
    assert mask_emails_in_bytes(raw).endswith(b'@ and a***@shop.example"}')
