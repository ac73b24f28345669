"""Pure signature verification and envelope parsing (``checkout.webhooks``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sidecar_helpers import KEYS, envelope

from checkout_freshportal.checkout.webhooks import (
    MalformedEnvelope,
    authorization_matches,
    parse_envelope,
    poison_event_id,
    readable_event_id,
    sign,
    verify_signature,
)

BODY = envelope("evt_rmbwhvwacc7u5iczmz2tdcogum")


def test_valid_signature_matches_first_key() -> None:
    assert verify_signature(BODY, sign(BODY, KEYS[0]), KEYS) == 0


def test_rotated_key_second_key_valid() -> None:
    assert verify_signature(BODY, sign(BODY, KEYS[1]), KEYS) == 1
    assert verify_signature(BODY, sign(BODY, KEYS[1]), KEYS[:1]) is None


def test_wrong_key_and_invalid_signature() -> None:
    assert verify_signature(BODY, sign(BODY, b"some other key"), KEYS) is None
    good = sign(BODY, KEYS[0])
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert verify_signature(BODY, flipped, KEYS) is None


def test_upper_case_hex_and_surrounding_space_accepted() -> None:
    assert verify_signature(BODY, sign(BODY, KEYS[0]).upper(), KEYS) == 0
    assert verify_signature(BODY, f" {sign(BODY, KEYS[0])} ", KEYS) == 0


def test_reserialised_body_fails() -> None:
    """json.loads/dumps changes escaping and number formatting: the raw bytes are what is signed."""
    header = sign(BODY, KEYS[0])
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert reserialised != BODY
    assert verify_signature(reserialised, header, KEYS) is None


@pytest.mark.parametrize(
    "header", [None, "", "   ", "abc", "z" * 64, "0" * 63, "0" * 65, "sha256=" + "0" * 64]
)
def test_missing_or_malformed_header(header: str | None) -> None:
    assert verify_signature(BODY, header, KEYS) is None


def test_no_keys_never_matches() -> None:
    assert verify_signature(BODY, sign(BODY, KEYS[0]), []) is None


@given(st.binary(max_size=2048), st.binary(min_size=1, max_size=64), st.integers(min_value=0))
def test_roundtrip_and_any_byte_change_fails(raw: bytes, key: bytes, pos: int) -> None:
    header = sign(raw, key)
    assert verify_signature(raw, header, [b"other", key]) == 1
    if raw:
        i = pos % len(raw)
        changed = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]
        assert verify_signature(changed, header, [key]) is None


def test_authorization_matches() -> None:
    assert authorization_matches("70ed20ff-ba31", ["70ed20ff-ba31"])
    assert authorization_matches("new", ["old", "new"])
    assert not authorization_matches("70ed20ff-ba32", ["70ed20ff-ba31"])
    assert not authorization_matches(None, ["x"])
    assert not authorization_matches("", ["x"])
    assert not authorization_matches("x", [])


def test_parse_workflows_envelope() -> None:
    env = parse_envelope(BODY)
    assert env.id == "evt_rmbwhvwacc7u5iczmz2tdcogum"
    assert env.type == "payment_captured"
    assert env.version == "1.0.29"
    assert env.subject_id == "pay_pswr5qaqzzferh2puzfyrefzuy"
    assert env.occurred_at == datetime(2023, 5, 24, 9, 12, 32, 357000, tzinfo=UTC)


def test_parse_alternate_envelope_with_timestamp_and_unknown_keys() -> None:
    body = envelope("evt_2", "dispute_received", shape="events", payment_id="dsp_1", brand_new_key={"x": 1})
    env = parse_envelope(body)
    assert env.occurred_at == datetime(2023, 5, 24, 9, 12, 32, 357123, tzinfo=UTC)  # 7th digit dropped
    assert env.subject_id == "dsp_1"
    assert env.raw["brand_new_key"] == {"x": 1}
    assert env.raw["source"] == "gateway"


def test_unparsable_timestamp_is_tolerated() -> None:
    env = parse_envelope(b'{"id":"evt_3","type":"payment_voided","created_on":"yesterday","data":{}}')
    assert env.occurred_at is None
    assert env.subject_id is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{bad", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[1, 2]", "JSON list"),
        (b'{"type":"payment_captured"}', "'id'"),
        (b'{"id":"evt_1"}', "'type'"),
        (b'{"id":"evt_1","type":"x","data":[1]}', "'data'"),
        (b'{"id":"evt_1","type":"x","amount":NaN}', "NaN"),
        (b'{"id":"evt_1","type":"caf\xe9"}', "not UTF-8"),
    ],
)
def test_malformed_envelopes(raw: bytes, fragment: str) -> None:
    with pytest.raises(MalformedEnvelope, match=fragment.replace("(", r"\(")):
        parse_envelope(raw)


def test_poison_keys() -> None:
    assert readable_event_id(b'{"id":"evt_9"}') == "evt_9"
    assert readable_event_id(b"{bad") is None
    assert readable_event_id(b'{"id": 5}') is None
    key = poison_event_id(b"{bad")
    assert key.startswith("poison:")
    assert len(key) == len("poison:") + 64
    assert key == poison_event_id(b"{bad")
