"""Scenario files: the shipped example loads; mistakes are reported with the path to the field."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cfp_dev.sandbox.checkout import SandboxConfig, ScenarioError, build_world
from cfp_dev.sandbox.cli import add_checkout_parser, config_from_args

from .conftest import FIXED_NOW

SMALL = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "small.json"


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_small_example_loads_with_every_path() -> None:
    w = build_world(SandboxConfig(scenario_path=str(SMALL), now=FIXED_NOW))
    by_ref = {p.reference: p for p in w.payment_list if p.approved}
    assert len(w.payments) == 9
    assert by_ref["FP-100234"].status == "Captured"
    assert by_ref["FP-100235"].status == "Partially Refunded"
    assert by_ref["FP-100235"].total_captured == 48_000
    assert by_ref["FP-100235"].total_refunded == 4_500
    assert by_ref["FP-100236"].status == "Refunded"
    assert by_ref["FP-100239"].status == "Voided"
    assert by_ref["FP-100240"].status == "Expired"
    assert [p.status for p in w.by_reference["FP-100241"]] == ["Declined", "Captured"]
    assert sorted(d.status for d in w.disputes.values()) == ["evidence_required", "won"]
    kwd = next(fa for fa in w.financial_actions if fa.transaction_currency == "KWD")
    assert kwd.holding_currency == "EUR"
    assert kwd.fx_rate != 1
    jpy = next(fa for fa in w.financial_actions if fa.transaction_currency == "JPY")
    assert str(jpy.fx_rate) == "0.00614"
    assert w.payouts
    assert w.reports
    again = build_world(SandboxConfig(scenario_path=str(SMALL), now=FIXED_NOW))
    assert [p.id for p in again.payment_list] == [p.id for p in w.payment_list]


def test_errors_name_the_bad_field(tmp_path: Path) -> None:
    data = {
        "payments": [
            {"amount": "12.50", "currency": "EUR", "requested_on": "-1d"},
            {"amount": 1000, "currency": "EURO", "requested_on": "yesterday", "ammount": 5},
            {
                "amount": 1000,
                "currency": "EUR",
                "requested_on": "-2d",
                "actions": [
                    {"type": "capture", "amount": 600, "at": "+1h"},
                    {"type": "refund", "amount": 700, "at": "+2h"},
                ],
            },
        ]
    }
    with pytest.raises(ScenarioError) as exc:
        build_world(SandboxConfig(scenario_path=_write(tmp_path, data), now=FIXED_NOW))
    text = str(exc.value)
    assert "payments[0].amount: must be an integer" in text
    assert "minor units" in text
    assert "payments[1].currency" in text
    assert "payments[1].requested_on" in text
    assert "payments[1].ammount: unknown field" in text
    # balance replay runs once the structure is valid
    fixed = {"payments": [data["payments"][2]]}
    with pytest.raises(ScenarioError, match=r"payments\[0\]\.actions\[1\]\.amount: refund of 700 exceeds"):
        build_world(SandboxConfig(scenario_path=_write(tmp_path, fixed), now=FIXED_NOW))


def test_invalid_json_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"line 1, column"):
        build_world(SandboxConfig(scenario_path=_write(tmp_path, '{"payments": [}'), now=FIXED_NOW))
    with pytest.raises(ScenarioError, match="cannot read"):
        build_world(SandboxConfig(scenario_path=str(tmp_path / "nope.json")))


def test_cli_parser() -> None:
    parser = argparse.ArgumentParser()
    add_checkout_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(
        [
            "checkout",
            "--port",
            "0",
            "--scenario",
            str(SMALL),
            "--fault-429",
            "0.1",
            "--lag",
            "5",
            "--clock-speed",
            "60",
            "--no-search-next-links",
            "--search-actions",
            "summary",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.scenario_path == str(SMALL)
    assert cfg.fault_429_share == 0.1
    assert cfg.list_lag_seconds == 5
    assert cfg.clock_speed == 60
    assert cfg.search_next_links is False
    assert cfg.search_actions == "summary"
    assert callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["checkout", "--seed", "1", "--scenario", "x.json"])


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scenario-format.md").read_text()
    example = doc.split("## Complete example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    w = build_world(SandboxConfig(scenario_path=_write(tmp_path, example)))
    statuses = {p.reference: p.status for p in w.payment_list}
    assert statuses["FP-100235"] == "Partially Refunded"
    assert statuses["FP-100239"] == "Voided"
    assert statuses["FP-100240"] == "Expired"
    assert [d.status for d in w.disputes.values()] == ["won"]


def test_channels_canceled_disputes_retrievals_and_decline_metadata(tmp_path: Path) -> None:
    pc = "pc_freshportalmanualcapturex1"
    payments = [
        {"reference": "FP-1", "amount": 900, "currency": "EUR", "requested_on": "-1d", "capture": False,
         "processing_channel_id": pc},
        {"reference": "FP-2", "amount": 800, "currency": "EUR", "requested_on": "-5d",
         "disputes": [{"received_on": "-4d", "outcome": "canceled", "resolved_on": "-3d"},
                      {"received_on": "-2d", "outcome": "retrieval", "reason_code": "28"}]},
        {"reference": "FP-3", "amount": 700, "currency": "EUR", "requested_on": "-1d",
         "metadata": {"sandbox_decline": "refund"}},
    ]  # fmt: skip
    w = build_world(SandboxConfig(scenario_path=_write(tmp_path, {"now": FIXED_NOW, "payments": payments})))
    manual = w.by_reference["FP-1"][0]
    assert (manual.status, manual.processing_channel_id) == ("Authorized", pc)
    [dispute] = w.disputes.values()
    assert dispute.status == "canceled"
    [retrieval] = w.retrievals.values()
    assert (retrieval.payment_id, retrieval.reason_code) == (w.by_reference["FP-2"][0].id, "28")
    assert w.ledger.decline_for(w.by_reference["FP-3"][0], "Refund", None) == "20005"
    assert w.ledger.decline_for(w.by_reference["FP-3"][0], "Capture", None) is None
    bad = [{**payments[0], "processing_channel_id": "channel-1"}]
    with pytest.raises(ScenarioError, match="processing_channel_id: must start with pc_"):
        build_world(SandboxConfig(scenario_path=_write(tmp_path, {"now": FIXED_NOW, "payments": bad})))
