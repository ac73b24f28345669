"""``cfp quarantine list`` / ``requeue`` on SQLite and PostgreSQL, and ``cfp ingest`` failing loudly.

Rows are written by the real store with reasons made the way ingestion makes them (escaped,
masked), then read back through the command line as an operator would.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY
from checkout_freshportal import cli
from checkout_freshportal.sync.ingest import quarantine as q
from checkout_freshportal.sync.ingest import quarantine_cli
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import quarantine as store

from ingest_fixtures import client_for, migrated_engine

#: A file name as a listing may send it: a C1 CSI, a line separator and a bidi override.
HOSTILE_NAME = "f\x9b2J\u2028\u202ecsv.exe"
HOSTILE = ValueError("bad\nvalue 4242 4242 4242 4242 from jan.devries@example.nl \x1b[2J")


def cfp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(list(argv))
    return done.value.code, capsys.readouterr().out


@pytest.fixture
def quarantined(migrated_warehouse_url: str) -> str:
    engine = migrated_engine(migrated_warehouse_url)
    with engine.begin() as conn:
        for failure in (
            store.Failure(
                "checkout.payments",
                "pay_bad",
                q.reason_of(HOSTILE),
                q.error_class_of(HOSTILE),
                store.RAW_API_OBJECTS,
                "ab" * 32,
            ),
            store.Failure(
                "checkout.report_files",
                "file_bad",
                "ReportColumnsError: missing required column(s)",
                "checkout_freshportal.warehouse.report_csv.ReportColumnsError",
                store.RAW_REPORT_FILE,
                "cd" * 32,
                {"report_id": "rpt_1", "report_type": "FinancialActions", "filename": HOSTILE_NAME},
                "rpt_1",
            ),
        ):
            store.record_failure(conn, failure, max_attempts=3, run_id="test")
    engine.dispose()
    return migrated_warehouse_url


def test_list_shows_open_items_escaped_and_masked(quarantined, capsys):
    code, out = cfp(capsys, "quarantine", "list", "--url", quarantined)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4  # two items, each with its reason on a second line
    assert "checkout.payments  pay_bad  raw: raw_api_objects" in out
    assert "file_bad (report rpt_1)" in out
    assert "bad\\x0avalue ************4242 from ***@***" in out
    assert "\x1b" not in out
    assert "example.nl" not in out

    code, out = cfp(
        capsys, "quarantine", "list", "--url", quarantined, "--source", "checkout.report_files", "--json"
    )
    item = json.loads(out)
    assert code == 0
    assert (item["item_id"], item["state"], item["attempts"]) == ("file_bad", "quarantined", 1)
    assert item["payload"]["report_type"] == "FinancialActions"
    assert item["payload"]["filename"] == HOSTILE_NAME  # kept whole, printed escaped
    assert out.isascii()


def test_list_json_masks_emails_and_card_numbers_but_the_store_keeps_the_payload(
    migrated_warehouse_url, capsys
):
    payload = {
        "id": "dsp_1",
        "customer": {"email": "Jan.Devries@example.nl", "name": "Jan"},
        "source": {"number": "4242424242424242", "numbers": [5555555555554444]},
        "note": "call jan@example.com about 4000 0566 5566 5556",
        "amount": 1000,
    }
    engine = migrated_engine(migrated_warehouse_url)
    failure = store.Failure(
        "checkout.disputes", "dsp_1", "MappingError: x", "x.MappingError", "payload", None, payload
    )
    with engine.begin() as conn:
        store.record_failure(conn, failure, max_attempts=3)

    code, out = cfp(capsys, "quarantine", "list", "--url", migrated_warehouse_url, "--json")

    assert code == 0
    shown = json.loads(out)["payload"]
    assert shown["customer"] == {"email": "***@***", "name": "Jan"}
    assert shown["source"] == {"number": "************4242", "numbers": ["************4444"]}
    assert shown["note"] == "call ***@*** about ************5556"
    assert (shown["id"], shown["amount"]) == ("dsp_1", 1000)
    for secret in ("example", "424242424242", "555555555555", "0566"):
        assert secret not in out
    with engine.connect() as conn:
        assert store.list_items(conn, with_payload=True)[0].payload == payload  # stored verbatim
    engine.dispose()


def test_requeue_one_all_and_unknown(quarantined, capsys):
    code, out = cfp(capsys, "quarantine", "requeue", "checkout.payments", "pay_bad", "--url", quarantined)
    assert code == 0
    assert "re-queued checkout.payments pay_bad" in out
    _, out = cfp(capsys, "quarantine", "list", "--url", quarantined, "--state", "requeued")
    assert "pay_bad" in out
    assert "file_bad" not in out

    code, _ = cfp(capsys, "quarantine", "requeue", "checkout.payments", "pay_nope", "--url", quarantined)
    assert isinstance(code, str)
    assert "no quarantined item 'pay_nope' in source 'checkout.payments'" in code
    assert "checkout.report_files" in code  # what does exist

    code, _ = cfp(capsys, "quarantine", "requeue", "checkout.bogus", "x", "--url", quarantined)
    assert isinstance(code, str)
    assert "unknown source 'checkout.bogus'" in code
    code, _ = cfp(capsys, "quarantine", "requeue", "--url", quarantined)
    assert code == "cfp quarantine requeue: give SOURCE ITEM_ID, or --all [SOURCE]"

    code, out = cfp(
        capsys, "quarantine", "requeue", "--all", "--source", "checkout.report_files", "--url", quarantined
    )
    assert code == 0
    assert "re-queued 1 item(s) of checkout.report_files" in out
    code, out = cfp(capsys, "quarantine", "requeue", "--all", "--url", quarantined)
    assert code == 0
    assert "re-queued 2 item(s)" in out


def test_the_help_names_every_source_and_state():
    assert ", ".join(q.SOURCES) == quarantine_cli._SOURCES
    assert ", ".join(store.STATES) == quarantine_cli._STATES


def test_cfp_ingest_prints_what_landed_and_exits_naming_the_quarantine(
    sandbox, migrated_sqlite_url, monkeypatch, capsys
):
    migrated_engine(migrated_sqlite_url).dispose()
    scenario = requests.get(f"{sandbox.base_url}/_sandbox/summary", timeout=10).json()
    now = parse_ts(requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"])
    payment = next(iter(client_for(sandbox).search_payments(now - timedelta(days=2), now, limit=10)))["id"]
    requests.post(
        f"{sandbox.base_url}/_sandbox/poison", json={"id": payment, "patch": {"currency": "XYZ"}}, timeout=10
    ).raise_for_status()
    monkeypatch.setenv("CFP_CHECKOUT_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("CFP_CHECKOUT_SECRET_KEY", DEFAULT_SECRET_KEY)

    code, out = cfp(capsys, "ingest", "--url", migrated_sqlite_url, "--settings", '{"settle_hours": 0}')

    assert isinstance(code, str)
    assert code.startswith("cfp ingest: 1 item(s) could not be read")
    assert f"checkout.payments {payment} [quarantined, attempt 1]" in code
    assert "not an ISO 4217 currency" in code
    landed = json.loads(out)  # what landed is printed all the same
    assert landed["ingest_payments"]["inserted"] == scenario["counts"]["payments"] - 1
