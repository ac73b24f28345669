"""The leak scanner itself (dev/cfp_dev/secret_scan.py): planted leaks found, look-alikes not.

Every positive is planted in a file, a workbook and a warehouse row as well as in plain text, so
each reader the demo scan relies on is proven to see it; negatives are the ids, amounts, UUIDs,
timestamps and masked forms the pipeline writes all the time.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from cfp_dev.secret_scan import (
    Scanner,
    Secret,
    find_cards,
    find_emails,
    luhn_ok,
    main,
    secrets_from_environ,
)

KEY = "sk_sbox_m2abcdefghijklmnopqrstuvwx"
SECRETS = [Secret("checkout secret key", KEY), Secret("short", "admin")]
VISA = "4242424242424242"
DECLINE_CARD = "4544 2491 6767 3670"
AMEX = "3782-822463-10005"


def hits(text: str) -> list[str]:
    return [f"{h.kind} {h.shown}" for h in Scanner(SECRETS).scan_text(text, "t")]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"card {VISA} declined", "card"),
        (f"number={DECLINE_CARD};", "card"),
        (f"amex {AMEX}", "card"),
        ("maestro 6759649826438453", "card"),
        ('"scheme_id": "x", "number": "5555555555554444"', "card"),
        (f"order 520002 {VISA} at 10:00", "card"),  # a number glued by a space to another
        (f'{{"number": "{VISA}"}}', "card"),
        ("contact jan.devries@example.nl today", "email"),
        ('"email": "ab@shop.example"', "email"),
        ("jo***n@example.com", "email"),  # visible characters after the stars: not masked
        (f"Bearer {KEY}", "secret"),
        (f"url?key={KEY}", "secret"),
        ("Authorization: Basic " + base64.b64encode(f"user:{KEY}".encode()).decode(), "secret"),
        ("x" + base64.b64encode(f"ab{KEY}cd".encode()).decode(), "secret"),
    ],
)
def test_planted_leaks_are_found(text: str, kind: str) -> None:
    found = hits(text)
    assert [f.split(" ")[0] for f in found] == [kind], found


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # Luhn fails
        "1234567812345670",  # Luhn passes, but no card network starts with 1
        "522248590623629",  # Luhn passes, 15 digits, but Mastercard numbers have 16
        '"scheme_id":"4242424242424242"',  # a network transaction id, not a card
        "pay_4242424242424242abc",  # inside an id
        "act_recon000000000000000000004",
        "amount_e8=424242424242424200 12345678901.00",
        "4242424242424242.50",  # a decimal, not a card
        "payout 4242424242424242-x",  # glued to an id by a dash
        "123e4567-e89b-12d3-a456-426614174000",
        "42345678-1234-5678-1234-567812345678",  # an all-digit UUID
        "2026-12-06 21:02:45,123 INFO 1796590000000",  # timestamps, epoch millis
        "j***@example.nl ***@*** customer ***",  # masked forms
        "postgresql://postgres@127.0.0.1:5432/warehouse",
        "version 3.14.5, 4242 4242",  # too short
        "admin admin admin",  # a configured value too short to look for
        KEY[:-1] + "_",  # a near miss
    ],
)
def test_look_alikes_are_not_hits(text: str) -> None:
    assert hits(text) == []


def test_the_card_and_email_rules() -> None:
    assert luhn_ok(VISA)
    assert not luhn_ok("4242424242424243")
    assert list(find_cards("4111 1111 1111 1111 and 5555-5555-5555-4444")) == [
        "4111111111111111",
        "5555555555554444",
    ]
    assert list(find_emails("a@b.example x***@y.example ***@z.example")) == ["a***@b.example"]


def test_a_hit_never_shows_the_value() -> None:
    scanner = Scanner(SECRETS)
    scanner.scan_text(f"{KEY} {VISA} jan.devries@example.nl", "line")
    shown = " ".join(str(h) for h in scanner.hits)
    assert KEY not in shown
    assert VISA not in shown
    assert "jan.devries" not in shown
    assert "************4242" in shown
    assert "j***@example.nl" in shown
    assert KEY not in repr(SECRETS[0])


def test_files_are_read_with_their_line_or_cell(tmp_path: Path) -> None:
    import openpyxl

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "task.log").write_text(f"ok\nsecret {KEY}\n")
    (tmp_path / "report.csv").write_text("order,email\n1,ann@shop.example\n")
    (tmp_path / "chart.svg").write_text(f"<svg><text>{VISA}</text></svg>")
    (tmp_path / "clean.html").write_text(
        '<p>j***@example.nl pay_abc 12.50</p><svg><path d="M 0 0 Q 2531 2678 2651 2914 Z"/></svg>'
    )
    assert hits("Q 2531 2678 2651 2914")  # as text it would be a hit: the SVG attribute is what differs
    book = openpyxl.Workbook()
    book.active.title = "Orders"
    book.active["C7"] = f"card {DECLINE_CARD}"
    book.save(tmp_path / "report.xlsx")
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" + VISA.encode())
    scanner = Scanner(SECRETS)
    scanner.scan_tree(tmp_path, exclude=[tmp_path / "blob.bin"], label="out")
    assert sorted(str(h).split(": ")[0] for h in scanner.hits) == [
        "out/chart.svg:1",
        "out/logs/task.log:2",
        "out/report.csv:2",
        "out/report.xlsx!Orders!C7",
    ]
    assert scanner.scanned_files == 5


def _plant(url: str) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    t = sa.Table(
        "stg_things",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("payload", sa.JSON),
        sa.Column("body", sa.LargeBinary),
        sa.Column("amount_minor", sa.BigInteger),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            t.insert(),
            [
                {
                    "id": 1,
                    "note": "fine j***@x.example",
                    "payload": {"a": 1},
                    "body": b"{}",
                    "amount_minor": 1,
                },
                {
                    "id": 2,
                    "note": None,
                    "payload": {"email": "bob@x.example"},
                    "body": None,
                    "amount_minor": 2,
                },
                {
                    "id": 3,
                    "note": "ok",
                    "payload": None,
                    "body": json.dumps({"k": KEY}).encode(),
                    "amount_minor": 3,
                },
                {
                    "id": 4,
                    "note": f"pan {VISA}",
                    "payload": None,
                    "body": None,
                    "amount_minor": 4242424242424242,
                },
            ],
        )
    engine.dispose()


def _scan_db(url: str) -> list[str]:
    _plant(url)
    scanner = Scanner(SECRETS)
    scanner.scan_database(url, "wh")
    return sorted(f"{h.where} {h.kind}" for h in scanner.hits)


EXPECTED_DB = [
    "wh:stg_things.body:3 secret",
    "wh:stg_things.note:4 card",
    "wh:stg_things.payload:2 email",
]


def test_every_text_json_and_binary_column_on_sqlite(tmp_path: Path) -> None:
    # amount_minor holds a Luhn-valid 16-digit number: numeric columns are amounts, not text
    assert _scan_db(f"sqlite:///{tmp_path / 'w.sqlite'}") == EXPECTED_DB


@pytest.mark.postgres
def test_every_text_json_and_binary_column_on_postgres(pg_url: str) -> None:
    assert _scan_db(pg_url) == EXPECTED_DB


def test_secrets_come_from_the_environment_the_demo_configures() -> None:
    env = {
        "CFP_SIDECAR_SIGNATURE_KEYS": "key-one-aaaaaaaa,key-two-bbbbbbbb",
        "AIRFLOW_CONN_CHECKOUT_DEFAULT": json.dumps({"conn_type": "checkout", "password": KEY}),
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT": "freshportal://:fp-secret-1234@127.0.0.1:9",
        "CFP_AIRFLOW_PASSWORD": "pw-123456789",
        "CFP_WAREHOUSE_URL": "sqlite:///x",
    }
    values = sorted(s.value for s in secrets_from_environ(env, "t"))
    assert values == sorted([KEY, "fp-secret-1234", "key-one-aaaaaaaa", "key-two-bbbbbbbb", "pw-123456789"])


def test_the_command_exits_1_on_a_hit_and_prints_no_value(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.log").write_text(f"x {VISA}\n")
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "a.log:1: card ************4242" in out
    assert VISA not in out
    (tmp_path / "a.log").write_text("clean\n")
    assert main([str(tmp_path)]) == 0
