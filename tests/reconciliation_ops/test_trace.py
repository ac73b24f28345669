"""``trace_order`` / ``cfp trace``: one order's money chain, exact amounts, escaped, no card data."""

from __future__ import annotations

import json

import pytest
import seed as s

from checkout_freshportal.cli import main
from checkout_freshportal.reports.trace import major_e8, render_text, trace_order


def test_the_whole_chain_with_exact_amounts(seeded) -> None:
    t = trace_order(seeded, s.ORDER_NUMBER)
    assert t is not None
    d = t.to_dict()
    json.dumps(d)  # JSON-ready as it is
    assert d["order"]["amount"] == "100.00"
    assert [lk["payment_id"] for lk in d["payment_links"]] == [s.PAYMENT_ID]
    paid, declined = d["payments"]
    assert (paid["payment"]["payment_id"], declined["payment"]["payment_id"]) == (s.PAYMENT_ID, s.DECLINED_ID)
    assert (paid["payment"]["captured"], paid["payment"]["refunded"]) == ("100.00", "25.00")
    assert [a["action_type"] for a in paid["actions"]] == ["Authorization", "Capture", "Refund"]
    assert paid["disputes"][0]["amount"] == "75.00"
    assert {ln["category"] for ln in paid["lines"]} == {"gross", "interchange", "scheme"}
    fees = {f["category"]: f["amount"] for f in paid["fees"]}
    assert fees == {"gross": "100.00", "interchange": "-0.30", "scheme": "-0.12345678"}
    assert d["payouts"] == [
        {"payout_id": s.PAYOUT_ID, "payout_date": "2026-03-04", "currency": "EUR", "amount": "99.57654322"}
    ]
    assert d["refund_requests"][0]["outcome_refund_id"] == "act_ref1"
    (exc,) = d["exceptions"]
    assert (exc["kind"], exc["expected"], exc["actual"]) == ("missing_payment", "100.00", "0.00")
    text = json.dumps(d) + render_text(t)
    assert "424242" not in text
    assert "4242" not in text.replace("pay_trace", "")
    assert "j***@example.nl" in text


def test_matches_of_reconciliation_name_the_rule(seeded) -> None:
    import sqlalchemy as sa

    from checkout_freshportal.warehouse.schema.recon import recon_matches

    with seeded.begin() as conn:
        conn.execute(
            sa.insert(recon_matches).values(
                order_id=s.ORDER_ID, payment_id=s.PAYMENT_ID, rule="reference", confirmed=True,
                match_group=f"order:{s.ORDER_ID}", order_number=s.ORDER_NUMBER, currency="EUR",
                first_matched_at=s.T0, updated_at=s.T0,
            )
        )  # fmt: skip
    t = trace_order(seeded, s.ORDER_NUMBER)
    assert t is not None
    rules = {p.payment["payment_id"]: (p.payment["rule"], p.payment["confirmed"]) for p in t.payments}
    assert rules == {s.PAYMENT_ID: ("reference", True), s.DECLINED_ID: ("unreconciled", False)}


def test_exact_amounts_keep_the_currency_exponent() -> None:
    assert major_e8(100_00000000, "JPY") == "100"
    assert major_e8(150000000, "KWD") == "1.500"
    assert major_e8(-12345678, "EUR") == "-0.12345678"


def test_cli_prints_the_trace_escaped(seeded_sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["trace", "FP-500002\x1b[31m", "--url", seeded_sqlite_url])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "FP-500002\\x1b[31m" in out
    assert "\x1b" not in out
    assert "500 JPY" in out
    assert "no payment found" in out


def test_cli_unknown_order_exits_1_with_a_clear_message(
    seeded_sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["trace", "FP-999999\n", "--url", seeded_sqlite_url])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "no order with number FP-999999\\x0a in the warehouse" in err


def test_cli_json(seeded_sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["trace", s.ORDER_NUMBER, "--json", "--url", seeded_sqlite_url])
    assert json.loads(capsys.readouterr().out)["order"]["order_number"] == s.ORDER_NUMBER
