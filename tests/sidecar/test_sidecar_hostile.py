"""Signed bodies built to break the sidecar: each is stored (as poison) and answered 2xx.

The cases come from a probe that found 500s (parser recursion, timestamp overflow) and 503s on
every resend (values PostgreSQL refuses), the latter also failing the good events that shared
the group commit. Here every hostile body must be poison, answered 2xx, and a resend a
duplicate; and under concurrent load no good event may get anything but 2xx.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sidecar_helpers import KEYS, ServerThread, envelope, post, rows, signed

from checkout_freshportal.checkout.webhooks import (
    MalformedEnvelope,
    parse_envelope,
    readable_event_id,
    valid_event_id,
    valid_event_type,
)
from checkout_freshportal.sidecar.store import record_from_body


def _doc(event_id: object = "evt_h", event_type: object = "payment_captured", **extra: object) -> bytes:
    doc = {"id": event_id, "type": event_type, "created_on": "2023-05-24T09:12:32Z", "data": {"id": "pay_1"}}
    doc.update(extra)
    return json.dumps(doc).encode()  # ensure_ascii: NUL and lone surrogates travel as \u escapes


#: name -> (body, whether the poison row keeps a readable id). The body is what Checkout.com
#: would sign; all of these were 500 or 503 before.
HOSTILE: dict[str, bytes] = {
    "nesting_100k": b'{"id":"evt_deep","type":"x","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nesting_2k_in_4kb": b"[" * 2000 + b"]" * 2000,
    "integer_5000_digits": b'{"id":"evt_int","type":"x","n":' + b"7" * 5000 + b"}",
    "created_on_before_year_1": _doc("evt_early", created_on="0001-01-01T00:00:00+01:00"),
    "created_on_after_9999": _doc("evt_late", created_on="9999-12-31T23:59:59-01:00"),
    "id_8000_chars": _doc("evt_" + "a" * 7996),
    "nul_in_id": _doc("evt_\u0000nul"),
    "nul_in_type": _doc("evt_nul_type", "payment_\u0000captured"),
    "lone_surrogate_in_id": _doc("evt_\ud800"),
    "lone_surrogate_in_type": _doc("evt_sur_type", "payment_\udfff"),
    "lone_surrogate_in_subject": _doc("evt_sur_subject", data={"id": "pay_\ud800"}),
    "nul_in_subject": _doc("evt_nul_subject", data={"id": "pay_\u0000"}),
    "subject_8000_chars": _doc("evt_long_subject", data={"id": "pay_" + "b" * 7996}),
    "newline_in_id": _doc("evt_1\n2026-01-01 INFO forged record"),
    "type_8000_chars": _doc("evt_long_type", "t" * 8000),
    "type_upper_case": _doc("evt_upper_type", "Payment-Captured"),
    "raw_nul_byte": b'{"id":"evt_raw\x00","type":"payment_captured"}',
    "raw_surrogate_bytes": b'{"id":"evt_\xed\xa0\x80","type":"payment_captured"}',
}
# created_on out of range is not poison: the event is fine, only its timestamp is unusable.
NOT_POISON = {"created_on_before_year_1", "created_on_after_9999"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_parser_turns_every_hostile_body_into_a_defined_outcome(case: str) -> None:
    body = HOSTILE[case]
    record = record_from_body(body, 0)
    if case in NOT_POISON:
        env = parse_envelope(body)
        assert env.occurred_at is None
        assert not record.is_poison
        return
    with pytest.raises(MalformedEnvelope):
        parse_envelope(body)
    assert record.is_poison
    assert record.poison_reason
    # what reaches SQL is validated text, or the body's hash
    assert valid_event_id(record.event_id) or record.event_id == "poison:" + hashlib.sha256(body).hexdigest()
    assert record.event_type is None
    assert record.subject_id is None
    assert "\n" not in record.poison_reason
    assert "\x00" not in record.poison_reason
    record.poison_reason.encode("utf-8")  # no lone surrogate in the reason either


def test_validation_rules() -> None:
    assert valid_event_id("evt_az3lh4ljcqcuvhwoh7ugg3w7vi")
    assert valid_event_id("a" * 255)
    assert not valid_event_id("a" * 256)
    assert valid_event_id("evt_A-1.b")
    bad_ids = ("", "evt 1", "evt_\x00", "evt_\ud800", "evt_é", "evt_\n", 5, None)
    # an address would be the primary key beside its masked body; "poison:" keys are the sidecar's
    bad_ids += ("jan@example.nl", "poison:" + "0" * 64, "evt_<script>", "evt_'1'")
    for bad in bad_ids:
        assert not valid_event_id(bad), bad
    assert valid_event_type("payment_captured")
    assert valid_event_type("card_verification.declined")
    for bad in ("", "Payment", "payment-captured", "payment captured", "t" * 101, None):
        assert not valid_event_type(bad), bad
    # a poison body keeps its own id only if that id is valid
    assert readable_event_id(_doc("evt_ok", "BAD TYPE")) == "evt_ok"
    assert readable_event_id(_doc("evt_\u0000")) is None


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_body_is_stored_and_answered_2xx(
    case: str, migrated_url: str, run_sidecar: Callable[..., ServerThread]
) -> None:
    server = run_sidecar(migrated_url, max_body_bytes=1 << 20)
    body = HOSTILE[case]
    r = post(server.url, body, signed(body))
    assert r.status_code == 200, r.text
    expected = "stored" if case in NOT_POISON else "poison"
    assert r.json() == {"status": expected}
    assert post(server.url, body, signed(body, KEYS[1])).json() == {"status": "duplicate"}
    [row] = rows(migrated_url)
    assert bytes(row["body"]) == body  # byte for byte, NUL and surrogate bytes included
    assert row["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert bool(row["is_poison"]) is (case not in NOT_POISON)
    if case in NOT_POISON:
        assert row["occurred_at"] is None


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_good_and_hostile_bodies_on_postgres(
    pg_url: str, run_sidecar: Callable[..., ServerThread]
) -> None:
    """Every good event committed once with 2xx, every hostile body poison with 2xx, none 5xx."""
    from checkout_freshportal.warehouse.migrate import upgrade

    upgrade(pg_url)
    server = run_sidecar(pg_url, writers=2)
    good = {
        f"evt_good_{i:04d}": envelope(f"evt_good_{i:04d}", payment_id=f"pay_{i:026d}") for i in range(240)
    }
    hostile = {f"{name}#{n}": body for name, body in HOSTILE.items() for n in range(3)}  # resends too
    work = [("good", k, b) for k, b in good.items()] + [("hostile", k, b) for k, b in hostile.items()]
    random.Random(6).shuffle(work)

    def deliver(item: tuple[str, str, bytes]) -> tuple[str, str, int, str]:
        kind, key, body = item
        with requests.Session() as s:
            r = post(server.url, body, signed(body), session=s)
        return kind, key, r.status_code, r.json().get("status", "")

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(deliver, work))
    assert {code for _, _, code, _ in answers} == {200}, [a for a in answers if a[2] != 200][:5]
    assert all(status == "stored" for kind, _, _, status in answers if kind == "good")
    for name in HOSTILE:
        statuses = sorted(
            st for kind, key, _, st in answers if kind == "hostile" and key.startswith(name + "#")
        )
        first = "stored" if name in NOT_POISON else "poison"
        assert statuses == sorted([first, "duplicate", "duplicate"]), (name, statuses)
    stored = rows(pg_url)
    by_id = {r["event_id"]: r for r in stored}
    assert len(by_id) == len(stored) == len(good) + len(HOSTILE)
    for event_id, body in good.items():
        assert bytes(by_id[event_id]["body"]) == body
        assert not by_id[event_id]["is_poison"]
    assert sum(1 for r in stored if r["is_poison"]) == len(HOSTILE) - len(NOT_POISON)


def test_deeply_nested_version_is_not_stringified() -> None:
    """``str()`` of a value nested close to the recursion limit could itself raise: not done."""
    body = b'{"id":"evt_v","type":"payment_captured","version":' + b"[" * 900 + b"]" * 900 + b"}"
    env = parse_envelope(body)
    assert env.version is None
    assert not record_from_body(body, 0).is_poison


def test_an_unforeseen_parser_failure_is_still_poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net behind the parser: a defect nobody foresaw gives poison, never a 500."""
    from checkout_freshportal.sidecar import store

    def broken(raw: bytes) -> None:
        raise RecursionError("a parser defect")

    monkeypatch.setattr(store, "parse_envelope", broken)
    body = envelope("evt_fine")
    record = record_from_body(body, 1)
    assert record.is_poison
    assert record.event_id == "poison:" + hashlib.sha256(body).hexdigest()
    assert record.poison_reason == "envelope could not be read (RecursionError)"
    assert record.key_index == 1
