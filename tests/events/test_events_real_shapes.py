"""The status machine on the shapes real Checkout.com deliveries take, not only the sandbox's.

Real deliveries differ from the simulator's original ones: timestamps with ``+00:00`` and
milliseconds, ``payment_pending``/``payment_capture_pending``/``payment_expired`` without
``balances`` (``payment_expired`` with an ``action_id``), ``payment_authorization_incremented``,
extra envelope fields (``action_invocations``, ``data.trigger``), ``source.type`` values the
client does not list, and dispute events whose ``data`` has no ``status`` (the type carries the
life-cycle) but ``client_id``, ``entity_id``, ``processing_channel_id``, ``resolved_reason``.
Each body here goes through ``parse_envelope`` as the use case reads it. The end-to-end test
applies such bodies with ``apply_events`` on SQLite and PostgreSQL, against payments the
Checkout.com sandbox really holds, and compares with ``GET /payments/{id}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checkout_freshportal.checkout import models
from checkout_freshportal.checkout.models import Balances
from checkout_freshportal.checkout.statuses import (
    BALANCE_FIELDS,
    DISPUTE_STATUSES,
    MODELED_STATUSES,
    PAYMENT_STATUSES,
    DisputeStatus,
)
from checkout_freshportal.checkout.webhooks import parse_envelope
from checkout_freshportal.freshportal.mapping import (
    CHECKOUT_DISPUTE_STATUSES,
    CHECKOUT_PAYMENT_STATUSES,
    load_mapping,
)
from checkout_freshportal.sync.events import service as ev
from checkout_freshportal.sync.status.declines import decline_from_event
from checkout_freshportal.sync.status.derivation import Derivation, PaymentState, fold
from checkout_freshportal.sync.status.facts import Fact, fact_from_event, fact_from_payment
from checkout_freshportal.sync.status.mapping import freshportal_status
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import mappers, schema

from events_fixtures import (
    api_status,
    checkout_client,
    checkout_sandbox,
    migrated,
    pay,
    post,
    rows,
    store_bodies,
    wait_until,
)

MAPPING = load_mapping(environ={})
PID = "pay_realshape0000000000000001"
T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------ building real deliveries


def real_ts(at: datetime) -> str:
    """Checkout.com's other spelling: milliseconds and ``+00:00`` instead of ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+00:00"


def bal(
    auth: int = 10_000, captured: int = 0, refunded: int = 0, voided: int = 0, **kw: int
) -> dict[str, int]:
    out = {
        "total_authorized": auth,
        "total_voided": voided,
        "available_to_void": 0 if captured or voided else auth,
        "total_captured": captured,
        "available_to_capture": 0 if voided else auth - captured,
        "total_refunded": refunded,
        "available_to_refund": captured - refunded,
    }
    out.update(kw)
    return out


def body(event_type: str, at: datetime, data: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """An envelope as real workflows deliver it, with the fields the client does not read."""
    envelope = {
        "id": event_id or f"evt_{event_type}_{at.strftime('%H%M%S%f')}",
        "type": event_type,
        "version": "2.0",
        "created_on": real_ts(at),
        "action_invocations": [
            {"workflow_id": "wf_real", "workflow_action_id": "wfa_real", "status": "pending"}
        ],
        "data": data,
        "_links": {"self": {"href": "https://api.checkout.com/workflows/events/evt"}},
    }
    return json.dumps(envelope).encode()


def payment_data(
    pid: str = PID, *, balances: dict[str, int] | None = None, at: datetime = T, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": pid,
        "reference": "FP-900001",
        "amount": 10_000,
        "currency": "EUR",
        "processed_on": real_ts(at),
        "metadata": {"freshportal_order_id": "900001"},
        "source": {"type": "applepay", "id": "src_real", "scheme": "visa"},
        "trigger": "payment_request",
        "payment_type": "Regular",
    }
    if balances is not None:
        data["balances"] = balances
    data.update(extra)
    return data


def dispute_data(pid: str = PID, dispute_id: str = "dsp_real1", **extra: Any) -> dict[str, Any]:
    """Real dispute ``data``: no ``status`` field at all."""
    data: dict[str, Any] = {
        "id": dispute_id,
        "category": "fraudulent",
        "amount": 10_000,
        "currency": "EUR",
        "reason_code": "10.4",
        "payment_id": pid,
        "payment_reference": "FP-900001",
        "client_id": "cli_real",
        "entity_id": "ent_real",
        "processing_channel_id": "pc_real",
    }
    data.update(extra)
    return data


def fact(raw: bytes) -> Fact | None:
    env = parse_envelope(raw)
    assert env.occurred_at is not None
    return fact_from_event(env.id, env.type, env.occurred_at, env.data)


def facts(*raws: bytes) -> list[Fact]:
    out = [fact(r) for r in raws]
    assert all(f is not None for f in out)
    return [f for f in out if f is not None]


def derive(*raws: bytes, state: PaymentState | None = None) -> Derivation:
    return fold(PID, facts(*raws), state).derive()


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


APPROVED = body(
    "payment_approved", at(0), payment_data(balances=bal(), action_id="act_auth", response_code="10000")
)
CAPTURED = body(
    "payment_captured",
    at(5),
    payment_data(balances=bal(captured=10_000), action_id="act_cap", reference="cap-1"),
)


# ------------------------------------------------------------------ timestamps and the envelope


def test_timestamps_with_offset_and_milliseconds_are_the_same_instant() -> None:
    assert parse_ts("2026-03-02T12:00:00.123+00:00") == datetime(2026, 3, 2, 12, 0, 0, 123_000, tzinfo=UTC)
    assert parse_ts("2026-03-02T12:00:00.123+00:00") == parse_ts("2026-03-02T12:00:00.1230000Z")
    f = fact(body("payment_approved", at(0.25), payment_data(balances=bal()), event_id="evt_ts"))
    assert f is not None
    assert f.at == at(0.25)
    # the same event delivered with ``Z`` is the same fact (a duplicate, not a second one)
    doc = json.loads(body("payment_approved", at(0.25), payment_data(balances=bal()), event_id="evt_ts"))
    doc["created_on"] = at(0.25).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert fact(json.dumps(doc).encode()) == f
    # processed_on in the same spelling dates a decline
    rec = decline_from_event("evt_d", "payment_declined", None, payment_data(processed_on=real_ts(at(1))))
    assert rec is not None
    assert rec.occurred_at == at(1)


def test_extra_envelope_fields_and_unknown_source_types_change_nothing() -> None:
    plain = {
        "id": "evt_plain",
        "type": "payment_approved",
        "created_on": real_ts(at(0)),
        "data": {k: v for k, v in payment_data(balances=bal()).items() if k not in {"source", "trigger"}},
    }
    bare = fact(json.dumps(plain).encode())
    for source_type in ("applepay", "googlepay", "network_token", "klarna", "some_future_type"):
        rich = body(
            "payment_approved",
            at(0),
            payment_data(balances=bal(), source={"type": source_type}, trigger="retry"),
            event_id="evt_plain",
        )
        assert fact(rich) == bare
    assert derive(APPROVED).status == "Authorized"


# ------------------------------------------------------------------ events without balances


def test_payment_pending_without_balances_is_pending_and_needs_nothing() -> None:
    pending = body("payment_pending", at(0), payment_data())
    d = derive(pending)
    assert (d.status, d.problems, d.reference, d.order_hint) == ("Pending", (), "FP-900001", "900001")
    assert d.balances == Balances()  # nothing moved: zeros, as GET /payments/{id} shows
    assert (
        derive(pending, body("payment_approved", at(1), payment_data(balances=bal()))).status == "Authorized"
    )


def test_payment_pending_without_balances_after_a_capture_asks_the_api() -> None:
    late_pending = body("payment_pending", at(9), payment_data())
    d = derive(APPROVED, CAPTURED, late_pending)
    assert d.status == "Captured"  # money beats lifecycle meanwhile
    assert d.needs_truth
    assert any("payment_pending" in p for p in d.problems)
    # the snapshot (as of the newest fact) settles it, and it is read once: nothing is left open
    state = fold(PID, facts(APPROVED, CAPTURED, late_pending))
    api = {"id": PID, "status": "Captured", "currency": "EUR", "balances": bal(captured=10_000)}
    settled = state.add(fact_from_payment(api, state.as_of() or T)).derive()
    assert (settled.status, settled.problems) == ("Captured", ())
    # a pending dated before the authorization is the 3DS step it was: nothing to ask
    assert not derive(body("payment_pending", at(-1), payment_data()), APPROVED, CAPTURED).needs_truth


def test_capture_pending_without_balances() -> None:
    capture_pending = body("payment_capture_pending", at(3), payment_data(action_id="act_cap"))
    # in flight: the payment stays what its balances say
    d = derive(APPROVED, capture_pending)
    assert (d.status, d.problems) == ("Authorized", ())
    assert derive(APPROVED, capture_pending, CAPTURED).status == "Captured"
    assert derive(CAPTURED, capture_pending, APPROVED).problems == ()
    # alone, it says nothing about the status: ask the API
    alone = derive(capture_pending)
    assert alone.status is None
    assert alone.needs_truth
    # even when the payment is known (a dispute names its reference), nothing says its status
    known = derive(capture_pending, body("dispute_evidence_required", at(30), dispute_data()))
    assert (known.status, known.problems) == (None, ("no status follows from the events alone",))
    # dated after everything was captured, it must be a step we have not seen: ask the API
    late = body("payment_capture_pending", at(9), payment_data(action_id="act_cap2"))
    d = derive(APPROVED, CAPTURED, late)
    assert d.status == "Captured"
    assert d.needs_truth


def test_payment_expired_without_balances_carries_an_action_id() -> None:
    expired_data = payment_data(action_id="act_exp", response_summary="Authorization expired")
    expired = body("payment_expired", at(60), expired_data, event_id="evt_expired")
    d = derive(APPROVED, expired)
    assert (d.status, d.problems) == ("Expired", ())
    assert d.balances is not None
    assert d.balances.total_authorized == 10_000
    # a 3DS payment that was never completed
    pending = body("payment_pending", at(0), payment_data())
    d = derive(pending, body("payment_expired", at(61), payment_data(action_id="act_exp2")))
    assert (d.status, d.problems, d.balances) == ("Expired", (), Balances())
    # the declines log keys it by its action id, so a resend is the same row
    env = parse_envelope(expired)
    rec = decline_from_event(env.id, env.type, env.occurred_at, env.data)
    assert rec is not None
    assert (rec.kind, rec.decline_id, rec.action_id, rec.event_id) == (
        "expired",
        "act_exp",
        "act_exp",
        "evt_expired",
    )
    # an expiry after a capture still contradicts the money: ask the API
    assert derive(APPROVED, CAPTURED, expired).needs_truth


def test_payment_authorization_incremented() -> None:
    incremented = body(
        "payment_authorization_incremented",
        at(2),
        payment_data(balances=bal(auth=15_000), action_id="act_inc", amount=5_000),
    )
    d = derive(APPROVED, incremented)
    assert (d.status, d.problems) == ("Authorized", ())
    assert d.balances is not None
    assert (d.balances.total_authorized, d.balances.available_to_capture) == (15_000, 15_000)
    assert d.amount == 10_000  # the payment's amount, not the increment
    assert derive(incremented, APPROVED) == d  # arrival order does not matter
    # captured up to the raised authorization
    full = body("payment_captured", at(5), payment_data(balances=bal(auth=15_000, captured=15_000)))
    assert derive(full, incremented, APPROVED).status == "Captured"
    part = body("payment_captured", at(5), payment_data(balances=bal(auth=15_000, captured=10_000)))
    assert derive(APPROVED, incremented, part).status == "Partially Captured"
    # an increment without balances leaves a gap only the API fills
    bare = body("payment_authorization_incremented", at(2), payment_data(action_id="act_inc", amount=5_000))
    assert derive(APPROVED, bare).needs_truth


# ------------------------------------------------------------------ disputes without data.status


@pytest.mark.parametrize(
    ("event_type", "status", "state"),
    [
        ("dispute_received", "evidence_required", "Disputed"),
        ("dispute_evidence_required", "evidence_required", "Disputed"),
        ("dispute_evidence_submitted", "evidence_under_review", "Disputed"),
        ("dispute_evidence_acknowledged_by_scheme", "evidence_under_review", "Disputed"),
        ("dispute_won", "won", "Dispute Won"),
        ("dispute_lost", "lost", "Chargeback"),
        ("dispute_resolved", "resolved", "Dispute Won"),
        ("dispute_canceled", "canceled", "Dispute Won"),
        ("dispute_expired", "expired", "Chargeback"),
        ("dispute_accepted", "accepted", "Chargeback"),
        ("dispute_arbitration_sent_to_scheme", "arbitration_under_review", "Disputed"),
        ("dispute_arbitration_evidence_submitted", "arbitration_under_review", "Disputed"),
        ("dispute_arbitration_evidence_acknowledged_by_scheme", "arbitration_under_review", "Disputed"),
        ("dispute_arbitration_some_new_step", "arbitration_under_review", "Disputed"),
        ("dispute_arbitration_won", "arbitration_won", "Dispute Won"),
        ("dispute_arbitration_lost", "arbitration_lost", "Chargeback"),
    ],
)
def test_dispute_status_comes_from_the_event_type(event_type: str, status: str, state: str) -> None:
    data = dispute_data()
    assert "status" not in data
    f = fact(body(event_type, at(30), data))
    assert f is not None
    assert (f.dispute_id, f.dispute_status) == ("dsp_real1", status)
    d = derive(APPROVED, CAPTURED, body(event_type, at(30), data))
    assert (d.status, d.dispute_status, d.dispute_state, d.problems) == ("Captured", status, state, ())
    assert freshportal_status(d, MAPPING) in MAPPING.freshportal_payment_statuses


def test_dispute_resolved_reason_is_kept_through_the_stored_state() -> None:
    opened = body("dispute_evidence_required", at(30), dispute_data())
    resolved = body(
        "dispute_resolved", at(40), dispute_data(resolved_reason="already_refunded", status_reason="refund")
    )
    refunded = body(
        "payment_refunded",
        at(20),
        payment_data(balances=bal(captured=10_000, refunded=10_000), action_id="act_r"),
    )
    state = fold(PID, facts(resolved, refunded, CAPTURED, opened, APPROVED))
    stored = PaymentState.from_json(json.loads(json.dumps(state.to_json())), PID)
    assert stored == state
    d = stored.derive()
    assert (d.dispute_status, d.dispute_resolved_reason) == (DisputeStatus.RESOLVED, "already_refunded")
    assert freshportal_status(d, MAPPING) == "refunded"  # resolved because refunded: the refund speaks


def test_an_unknown_dispute_type_without_status_is_ignored_but_a_known_status_is_read() -> None:
    assert fact(body("dispute_something_new", at(30), dispute_data())) is None
    f = fact(body("dispute_something_new", at(30), dispute_data(status="evidence_under_review")))
    assert f is not None
    assert f.dispute_status == "evidence_under_review"


def test_one_spelling_of_balances_and_statuses() -> None:
    assert tuple(f.name for f in fields(models.Balances)) == BALANCE_FIELDS
    assert models.BALANCE_FIELDS == schema.PAYMENT_BALANCES == BALANCE_FIELDS
    # statuses: staging and the tenant mapping read the same words the machine derives
    assert mappers.PAYMENT_STATUSES == PAYMENT_STATUSES
    assert set(mappers.DISPUTE_STATUSES) == set(DISPUTE_STATUSES)
    assert set(CHECKOUT_PAYMENT_STATUSES) <= set(PAYMENT_STATUSES)
    assert set(CHECKOUT_DISPUTE_STATUSES) <= set(DISPUTE_STATUSES)
    assert set(CHECKOUT_PAYMENT_STATUSES) >= MODELED_STATUSES


# ------------------------------------------------------------------ end to end, SQLite and PostgreSQL


def _wait_status(sb: Any, pid: str, status: str) -> None:
    wait_until(lambda: api_status(sb, pid)["status"] == status, what=f"{pid} {status}")


def _drive(sb: Any) -> dict[str, tuple[str, list[bytes]]]:
    """Payments the sandbox holds, each with the real-shape deliveries its life would produce.

    Returns label -> (payment id, bodies). The bodies are built here rather than taken from the
    sandbox's deliveries so that every shape above is exercised whatever the simulator sends.
    """
    now = datetime.now(UTC) - timedelta(minutes=30)
    out: dict[str, tuple[str, list[bytes]]] = {}

    def t(label: str, minute: int) -> datetime:
        return now + timedelta(minutes=minute, microseconds=len(out) * 1000 + len(label))

    def pdata(pid: str, amount: int, ref: str, **kw: Any) -> dict[str, Any]:
        return payment_data(pid, amount=amount, reference=ref, metadata={}, **kw)

    pid = pay(sb, 4_000, "FP-910001", capture=False, **{"3ds": {"enabled": True}})["id"]
    post(sb, f"/_sandbox/payments/{pid}/3ds", {"outcome": "approve"}, expect=200)
    _wait_status(sb, pid, "Authorized")
    out["3ds_then_approved"] = (
        pid,
        [
            body("payment_pending", t("a", 0), pdata(pid, 4_000, "FP-910001")),
            body("payment_approved", t("a", 1), pdata(pid, 4_000, "FP-910001", balances=bal(4_000))),
        ],
    )

    pid = pay(sb, 5_000, "FP-910002", capture=False)["id"]
    post(sb, f"/payments/{pid}/captures", {"amount": 5_000})
    _wait_status(sb, pid, "Captured")
    out["capture_pending"] = (
        pid,
        [
            body("payment_approved", t("b", 0), pdata(pid, 5_000, "FP-910002", balances=bal(5_000))),
            body("payment_capture_pending", t("b", 1), pdata(pid, 5_000, "FP-910002", action_id="act_cp")),
            body("payment_captured", t("b", 2), pdata(pid, 5_000, "FP-910002", balances=bal(5_000, 5_000))),
        ],
    )

    pid = pay(sb, 6_000, "FP-910003")["id"]
    _wait_status(sb, pid, "Captured")
    out["pending_after_capture"] = (
        pid,
        [
            body("payment_approved", t("c", 0), pdata(pid, 6_000, "FP-910003", balances=bal(6_000))),
            body("payment_captured", t("c", 1), pdata(pid, 6_000, "FP-910003", balances=bal(6_000, 6_000))),
            body("payment_pending", t("c", 2), pdata(pid, 6_000, "FP-910003")),
        ],
    )

    pid = pay(sb, 7_000, "FP-910004", **{"3ds": {"enabled": True}})["id"]
    _wait_status(sb, pid, "Expired")  # pending_expiry_seconds below
    out["3ds_expired"] = (
        pid,
        [
            body("payment_pending", t("d", 0), pdata(pid, 7_000, "FP-910004")),
            body("payment_expired", t("d", 1), pdata(pid, 7_000, "FP-910004", action_id="act_exp_d")),
        ],
    )

    pid = pay(sb, 8_000, "FP-910005", **{"3ds": {"enabled": True}})["id"]
    post(sb, f"/_sandbox/payments/{pid}/3ds", {"outcome": "cancel"}, expect=200)
    _wait_status(sb, pid, "Canceled")
    out["3ds_canceled"] = (
        pid,
        [
            body("payment_pending", t("e", 0), pdata(pid, 8_000, "FP-910005")),
            body("payment_canceled", t("e", 1), pdata(pid, 8_000, "FP-910005")),
        ],
    )

    pid = pay(sb, 9_000, "FP-910006", capture=False)["id"]
    _wait_status(sb, pid, "Authorized")
    out["incremented"] = (
        pid,
        [
            body("payment_approved", t("f", 0), pdata(pid, 9_000, "FP-910006", balances=bal(9_000))),
            body(
                "payment_authorization_incremented",
                t("f", 1),
                pdata(pid, 1_000, "FP-910006", balances=bal(10_000), action_id="act_inc_f"),
            ),
        ],
    )

    pid = pay(sb, 3_000, "FP-910007")["id"]
    dispute = {"amount": 3_000, "payment_reference": "FP-910007"}
    _wait_status(sb, pid, "Captured")
    out["dispute_lost"] = (
        pid,
        [
            body("payment_approved", t("g", 0), pdata(pid, 3_000, "FP-910007", balances=bal(3_000))),
            body("payment_captured", t("g", 1), pdata(pid, 3_000, "FP-910007", balances=bal(3_000, 3_000))),
            body("dispute_evidence_required", t("g", 2), dispute_data(pid, "dsp_g", **dispute)),
            body("dispute_lost", t("g", 3), dispute_data(pid, "dsp_g", resolved_reason="lost", **dispute)),
        ],
    )
    return out


def test_real_shapes_applied_end_to_end_give_the_api_status(migrated_warehouse_url: str) -> None:
    engine = migrated(migrated_warehouse_url)
    with checkout_sandbox(pending_expiry_seconds=120) as sb:
        lives = _drive(sb)
        bodies = [raw for _, raws in lives.values() for raw in raws]
        store_bodies(engine, bodies[::2])  # two sidecar commits, the second with resends
        store_bodies(engine, [*bodies[1::2], *bodies[:3]])
        started = time.monotonic()
        result = ev.apply_events(engine, checkout_client(sb), MAPPING)
        assert time.monotonic() - started < 60
        api = {label: api_status(sb, pid) for label, (pid, _) in lives.items()}

    assert result.events_applied == len(bodies)
    assert result.events_made_poison == 0
    status = {r["payment_id"]: r for r in rows(engine, schema.stg_payment_status, "payment_id")}
    for label, (pid, _) in lives.items():
        assert status[pid]["status"] == api[label]["status"], label
    # only the payment whose events could not say its state was read from the API
    assert result.truth_fetched == 1
    assert status[lives["pending_after_capture"][0]]["source"] == "webhook+api"
    assert status[lives["3ds_then_approved"][0]]["source"] == "webhook"
    # the lost dispute governs the FreshPortal status; the increment raised the authorization
    lost = status[lives["dispute_lost"][0]]
    assert (lost["dispute_status"], lost["dispute_state"], lost["freshportal_status"]) == (
        "lost",
        "Chargeback",
        "chargeback",
    )
    assert status[lives["incremented"][0]]["total_authorized_minor"] == 10_000
    assert status[lives["3ds_expired"][0]]["total_authorized_minor"] == 0
    declines = {r["decline_id"]: r for r in rows(engine, schema.ops_payment_declines, "decline_id")}
    assert declines["act_exp_d"]["kind"] == "expired"
    # a second run changes nothing and reads nothing
    again = ev.apply_events(engine, None, MAPPING)
    assert (again.events_read, again.truth_fetched) == (0, 0)


# ------------------------------------------------------------------ 3DS failures and refused increments


def test_payment_authentication_failed_is_a_decline_logged_with_its_code() -> None:
    """Shaped as Checkout.com's docs page for the event shows it: the payment failed 3DS, so
    nothing was authorised. Before, the event set no flag and logged nothing: a payment that had
    been Pending stayed Pending."""
    data = payment_data(
        action_id="act_3ds",
        amount=20,
        response_code="20151",
        response_summary="Cardholder failed 3D-Secure authentication",
        **{"3ds": {"enrolled": "Y", "authentication_response": "N"}},
    )
    failed = body("payment_authentication_failed", at(1), data, event_id="evt_3ds")
    pending = body("payment_pending", at(0), payment_data())
    d = derive(pending, failed)
    assert (d.status, d.problems) == ("Declined", ())
    f = fact(failed)
    assert f is not None
    assert (f.reference, f.order_hint) == ("FP-900001", "900001")  # the payment's own
    env = parse_envelope(failed)
    rec = decline_from_event(env.id, env.type, env.occurred_at, env.data)
    assert rec is not None
    assert (rec.kind, rec.decline_id, rec.response_code, rec.amount_minor) == (
        "authentication_failed",
        "act_3ds",
        "20151",
        20,
    )


def test_a_refused_authorisation_increment_is_logged_and_leaves_the_payment_authorised() -> None:
    refused = body(
        "payment_authorization_increment_declined",
        at(2),
        payment_data(balances=bal(), action_id="act_inc_no", amount=5_000, response_code="20051"),
    )
    d = derive(APPROVED, refused)
    assert (d.status, d.problems) == ("Authorized", ())
    env = parse_envelope(refused)
    rec = decline_from_event(env.id, env.type, env.occurred_at, env.data)
    assert rec is not None
    assert (rec.kind, rec.action_id, rec.response_code, rec.amount_minor) == (
        "increment_declined",
        "act_inc_no",
        "20051",
        5_000,
    )
