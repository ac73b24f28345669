"""build_world: determinism, realism and internal consistency of the generated history."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest

from cfp_dev.sandbox.checkout import SandboxConfig, build_world
from cfp_dev.sandbox.checkout.clock import cko_ts
from cfp_dev.sandbox.checkout.fees import merchant_payout_fee
from cfp_dev.sandbox.checkout.world import World
from checkout_freshportal.money import exponent, to_minor
from checkout_freshportal.timeutil import parse_ts

from .conftest import FIXED_NOW


def fingerprint(w: World) -> list:
    out: list = []
    for p in w.payment_list:
        out.append(
            (
                p.id,
                p.reference,
                p.amount,
                p.currency,
                cko_ts(p.requested_on),
                p.status,
                tuple(p.balances().values()),
                tuple((a.id, a.type, a.amount, a.approved, cko_ts(a.processed_on)) for a in p.actions),
            )
        )
    for fa in w.financial_actions:
        out.append(
            (fa.action_id, fa.payout_id, tuple((ln.breakdown_type, ln.holding_amount) for ln in fa.lines))
        )
    out.extend((d.id, d.status, d.amount, cko_ts(d.last_update)) for d in w.disputes.values())
    out.extend((po.id, po.amount, po.currency) for po in w.payouts)
    out.extend((r.id, r.type, cko_ts(r.created_on), tuple(f.id for f in r.files)) for r in w.reports)
    return out


def test_same_seed_same_world_including_ids() -> None:
    a = build_world(SandboxConfig(seed=7, now=FIXED_NOW))
    b = build_world(SandboxConfig(seed=7, now=FIXED_NOW))
    assert fingerprint(a) == fingerprint(b)
    c = build_world(SandboxConfig(seed=8, now=FIXED_NOW))
    assert fingerprint(a) != fingerprint(c)


def test_default_world_is_realistic() -> None:
    w = build_world(SandboxConfig(now=FIXED_NOW))
    payments = list(w.payments.values())
    assert 14 * 40 * 0.9 < len(payments) < 14 * 40 * 1.2  # declined orders are retried
    currencies = Counter(p.currency for p in payments)
    assert {"EUR", "GBP", "USD", "JPY", "KWD", "SEK"} <= set(currencies)
    approved = sum(1 for p in payments if p.approved) / len(payments)
    assert 0.85 < approved < 0.95
    statuses = Counter(p.status for p in payments)
    for status in (
        "Captured",
        "Partially Captured",
        "Refunded",
        "Partially Refunded",
        "Voided",
        "Expired",
        "Declined",
        "Authorized",
    ):
        assert statuses[status] > 0, status
    assert all(re.fullmatch(r"FP-\d{6}", p.reference or "") for p in payments)
    assert all(re.fullmatch(r"pay_[a-z2-7]{26}", p.id) for p in payments)
    assert {p.response_code for p in payments if not p.approved} - {"10000"}
    assert len({d.status for d in w.disputes.values()}) >= 3
    # FX: some non-EUR payments settle into the EUR account with a rate != 1
    fx = [fa for fa in w.financial_actions if fa.holding_currency != fa.transaction_currency]
    assert fx
    assert all(fa.fx_rate != 1 for fa in fx)
    types = Counter(r.type for r in w.reports)
    assert types["FinancialActions"] >= 13
    assert types["Payouts"] >= 13
    assert types["FinancialActionsByPayoutId"] == len(w.payouts)


def test_balances_are_consistent_everywhere() -> None:
    w = build_world(SandboxConfig(seed=3, now=FIXED_NOW, days=20, payments_per_day=60))
    for p in w.payments.values():
        b = p.balances()
        assert all(v >= 0 for v in b.values()), p.id
        assert b["total_captured"] <= b["total_authorized"]
        assert b["total_refunded"] <= b["total_captured"]
        assert b["available_to_refund"] == b["total_captured"] - b["total_refunded"]
        assert b["total_captured"] + b["total_voided"] + b["available_to_capture"] <= b["total_authorized"]
        assert sum(a.amount for a in p.actions if a.type == "Capture" and a.approved) == b["total_captured"]
        assert sum(a.amount for a in p.actions if a.type == "Refund" and a.approved) == b["total_refunded"]
        captures = {a.id for a in p.actions if a.type == "Capture" and a.approved}
        fa_caps = {fa.action_id for fa in w.fa_by_payment.get(p.id, []) if fa.action_type == "Capture"}
        assert captures == fa_caps


def test_timestamps_have_0_to_7_digits_and_round_trip() -> None:
    # the Z style alone; the +00:00 style and the mix are covered in test_real_shapes.py
    w = build_world(SandboxConfig(now=FIXED_NOW, timestamp_style="z"))
    digits = Counter()
    for p in w.payment_list:
        text = cko_ts(p.requested_on)
        m = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,7}))?Z", text)
        assert m, text
        digits[len(m.group(1) or "")] += 1
        assert parse_ts(text) == p.requested_on  # what a client reads back equals what we filter on
    assert digits[7] > digits[3] > 0
    assert digits[0] > 0


def test_payouts_add_up_to_their_financial_actions() -> None:
    w = build_world(SandboxConfig(now=FIXED_NOW))
    assert w.payouts
    for po in w.payouts:
        fas = [w.fa_by_action[a] for a in po.financial_action_ids]
        assert {fa.holding_currency for fa in fas} == {po.currency}
        assert all(po.period_start <= fa.processed_on < po.period_end for fa in fas)
        gross = sum((ln.holding_amount for fa in fas for ln in fa.lines if not ln.is_fee), Decimal(0))
        fees = sum((abs(ln.holding_amount) for fa in fas for ln in fa.lines if ln.is_fee), Decimal(0))
        assert po.amount == to_minor(gross - fees - merchant_payout_fee(po.currency), po.currency)
    # every line amount has at most 8 decimals and gross lines carry the currency's exponent exactly
    for fa in w.financial_actions:
        for ln in fa.lines:
            assert -ln.holding_amount.as_tuple().exponent <= 8
            if not ln.is_fee:
                assert -ln.transaction_amount.as_tuple().exponent == exponent(fa.transaction_currency)


def test_fee_sign_flips_fee_lines_only() -> None:
    pos = build_world(SandboxConfig(now=FIXED_NOW, days=3))
    neg = build_world(SandboxConfig(now=FIXED_NOW, days=3, fee_sign=-1))
    for a, b in zip(pos.financial_actions, neg.financial_actions, strict=True):
        for la, lb in zip(a.lines, b.lines, strict=True):
            assert lb.holding_amount == (-la.holding_amount if la.is_fee else la.holding_amount)


@pytest.mark.slow
def test_a_50k_payment_world_builds_and_keeps_its_order() -> None:
    # Scale, not speed (speed belongs to benchmarks): the bisect-based summaries rely on the
    # financial actions staying sorted by processed_on however many payments there are.
    w = build_world(SandboxConfig(now=FIXED_NOW, days=14, payments_per_day=3572))
    assert len(w.payments) > 50_000
    times = [fa.processed_on for fa in w.financial_actions]
    assert times == sorted(times)
