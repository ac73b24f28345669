"""The sidecar over real HTTP (uvicorn in a thread), on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from sidecar_helpers import KEYS, ServerThread, envelope, post, rows, signed

from checkout_freshportal.checkout.webhooks import sign
from checkout_freshportal.sidecar import cli
from checkout_freshportal.sidecar.settings import MiB


def test_valid_event_is_stored_verbatim(sidecar: ServerThread, migrated_url: str) -> None:
    body = envelope("evt_ok_1")
    r = post(sidecar.url, body, signed(body))
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "stored"}
    [row] = rows(migrated_url)
    assert row["event_id"] == "evt_ok_1"
    assert bytes(row["body"]) == body
    assert row["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert row["event_type"] == "payment_captured"
    assert row["subject_id"] == "pay_pswr5qaqzzferh2puzfyrefzuy"
    assert row["key_index"] == 0
    assert not row["is_poison"]
    assert row["processed_at"] is None
    assert row["process_attempts"] == 0
    assert row["occurred_at"] is not None
    assert row["received_at"] is not None


def test_alternate_envelope_and_rotated_key(sidecar: ServerThread, migrated_url: str) -> None:
    body = envelope("evt_alt", "dispute_received", shape="events", payment_id="dsp_7", unknown={"k": [1]})
    r = post(sidecar.url, body, signed(body, KEYS[1]))
    assert r.status_code == 200
    [row] = rows(migrated_url)
    assert (row["key_index"], row["subject_id"], row["event_type"]) == (1, "dsp_7", "dispute_received")
    assert json.loads(bytes(row["body"]))["unknown"] == {"k": [1]}


def test_upper_case_hex_signature(sidecar: ServerThread, migrated_url: str) -> None:
    body = envelope("evt_upper")
    r = post(sidecar.url, body, {"Cko-Signature": sign(body, KEYS[0]).upper()})
    assert r.status_code == 200
    assert len(rows(migrated_url)) == 1


@pytest.mark.parametrize(
    "case", ["invalid", "wrong_key", "missing", "reserialised", "empty", "other_body"], ids=str
)
def test_bad_signatures_answer_401_and_store_nothing(
    sidecar: ServerThread, migrated_url: str, case: str
) -> None:
    body = envelope("evt_bad")
    headers = {
        "invalid": {"Cko-Signature": "0" * 64},
        "wrong_key": signed(body, b"not-a-configured-key"),
        "missing": {"Content-Type": "application/json"},
        "reserialised": signed(body),
        "empty": {"Cko-Signature": ""},
        "other_body": signed(envelope("evt_other")),
    }[case]
    sent = json.dumps(json.loads(body)).encode() if case == "reserialised" else body
    r = post(sidecar.url, sent, headers)
    assert r.status_code == 401
    assert "evt_bad" not in r.text
    assert rows(migrated_url) == []
    metrics = requests.get(f"{sidecar.url}/metrics", timeout=10).text
    reason = "signature_missing" if case == "missing" else "signature"
    assert f'cfp_sidecar_rejected_total{{reason="{reason}"}} 1' in metrics


def test_authorization_header(migrated_url: str, run_sidecar: Callable[..., ServerThread]) -> None:
    server = run_sidecar(migrated_url, authorization=("70ed20ff-old", "70ed20ff-new"))
    body = envelope("evt_auth")
    assert post(server.url, body, signed(body)).status_code == 401  # missing
    assert post(server.url, body, signed(body, Authorization="70ed20ff-nope")).status_code == 401
    assert rows(migrated_url) == []
    # right Authorization but a bad signature is still refused
    assert (
        post(server.url, body, {"Cko-Signature": "0" * 64, "Authorization": "70ed20ff-new"}).status_code
        == 401
    )
    assert rows(migrated_url) == []
    assert post(server.url, body, signed(body, Authorization="70ed20ff-new")).status_code == 200
    assert post(server.url, body, signed(body, Authorization="70ed20ff-old")).json()["status"] == "duplicate"
    assert len(rows(migrated_url)) == 1
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'cfp_sidecar_rejected_total{reason="auth"} 2' in metrics


def test_oversize_bodies_413_and_nothing_stored(sidecar: ServerThread, migrated_url: str) -> None:
    big = b'{"id":"evt_big","type":"payment_captured","pad":"' + b"x" * MiB + b'"}'
    r = post(sidecar.url, big, signed(big))  # Content-Length says too much: refused unread
    assert r.status_code == 413

    def chunks():  # chunked transfer: no Content-Length, refused while reading
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    r = requests.post(f"{sidecar.url}/webhooks/checkout", data=chunks(), headers=signed(big), timeout=30)
    assert r.status_code == 413
    assert rows(migrated_url) == []
    # exactly at the limit is accepted (here: valid JSON padded with spaces)
    exact = envelope("evt_exact")
    exact = exact[:-1] + b" " * (MiB - len(exact)) + b"}"
    assert len(exact) == MiB
    r = post(sidecar.url, exact, signed(exact))
    assert r.status_code == 200, r.text
    metrics = requests.get(f"{sidecar.url}/metrics", timeout=10).text
    assert 'cfp_sidecar_rejected_total{reason="size"} 2' in metrics


def test_malformed_json_with_valid_signature_is_poison(
    sidecar: ServerThread, migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = b'{"id":"evt_p1","type":"payment_approved","data":{"customer":{"email":"jo@example.com"},'
    bad += b'"source":{"number":"4242424242424242"}'  # truncated: no closing braces
    r = post(sidecar.url, bad, signed(bad))
    assert r.status_code == 200
    assert r.json() == {"status": "poison"}
    assert post(sidecar.url, bad, signed(bad)).json() == {"status": "duplicate"}
    nothing = b"\xff\xfe not even utf-8"
    assert post(sidecar.url, nothing, signed(nothing)).status_code == 200
    by_id = {r["event_id"]: r for r in rows(migrated_url)}
    assert set(by_id) == {
        "poison:" + hashlib.sha256(bad).hexdigest(),
        "poison:" + hashlib.sha256(nothing).hexdigest(),
    }
    for row in by_id.values():
        assert row["is_poison"]
        assert row["poison_reason"]
        assert row["event_type"] is None
    no_type = b'{"id":"evt_no_type","data":{}}'
    assert post(sidecar.url, no_type, signed(no_type)).json() == {"status": "poison"}
    assert "evt_no_type" in {r["event_id"] for r in rows(migrated_url)}

    metrics = requests.get(f"{sidecar.url}/metrics", timeout=10).text
    assert "cfp_sidecar_poison_total 3" in metrics
    assert "cfp_sidecar_poison_events 3" in metrics
    assert "cfp_sidecar_unprocessed_events 0" in metrics  # poison never counts as work

    # the operator listing masks e-mails and card numbers, and acknowledging clears it
    import argparse

    args = argparse.Namespace(url=migrated_url, all=False, limit=10, preview=True, json=False, ack=None)
    assert cli.run_poison(args) == 0
    out = capsys.readouterr().out
    assert "evt_no_type" in out
    assert "jo@example.com" not in out
    assert "4242424242424242" not in out
    assert "************4242" in out
    assert "j***@example.com" in out  # masked when stored (docs/security.md), then by the preview
    assert cli.run_poison(argparse.Namespace(**{**vars(args), "ack": ["evt_no_type"]})) == 0
    assert cli.run_poison(argparse.Namespace(**{**vars(args), "preview": False, "json": True})) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(listed) == 2
    assert "evt_no_type" not in {e["event_id"] for e in listed}


def test_duplicates_answer_2xx_and_add_nothing(sidecar: ServerThread, migrated_url: str) -> None:
    body = envelope("evt_dup")
    assert post(sidecar.url, body, signed(body)).json() == {"status": "stored"}
    assert post(sidecar.url, body, signed(body, KEYS[1])).json() == {"status": "duplicate"}
    # the same id concurrently, as an at-least-once sender may do
    body2 = envelope("evt_dup_concurrent")
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: post(sidecar.url, body2, signed(body2)), range(32)))
    assert {a.status_code for a in answers} == {200}
    assert sorted(a.json()["status"] for a in answers).count("stored") == 1
    assert sorted(r["event_id"] for r in rows(migrated_url)) == ["evt_dup", "evt_dup_concurrent"]
    metrics = requests.get(f"{sidecar.url}/metrics", timeout=10).text
    assert "cfp_sidecar_duplicates_total 32" in metrics
    assert "cfp_sidecar_events_stored_total 2" in metrics


def test_method_path_health_and_metrics(sidecar: ServerThread, migrated_url: str) -> None:
    assert requests.get(f"{sidecar.url}/webhooks/checkout", timeout=10).status_code == 405
    assert requests.get(f"{sidecar.url}/nope", timeout=10).status_code == 404
    health = requests.get(f"{sidecar.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "up"}
    body = envelope("evt_m")
    post(sidecar.url, body, signed(body))
    m = requests.get(f"{sidecar.url}/metrics", timeout=10)
    assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = m.text
    for line in (
        "cfp_sidecar_webhooks_received_total 1",
        "cfp_sidecar_events_stored_total 1",
        'cfp_sidecar_rejected_total{reason="method"} 1',
        "cfp_sidecar_database_up 1",
        "cfp_sidecar_unprocessed_events 1",
        "cfp_sidecar_trigger_calls_total 0",
        "cfp_sidecar_trigger_failures_total 0",
        "cfp_sidecar_commit_seconds_count 1",
        'cfp_sidecar_ack_seconds_bucket{le="+Inf"} 1',
        "# TYPE cfp_sidecar_commit_seconds histogram",
    ):
        assert line in text, line
    age = next(ln for ln in text.splitlines() if ln.startswith("cfp_sidecar_oldest_unprocessed_age_seconds "))
    assert 0 <= float(age.split()[1]) < 60
    # processed events leave the backlog
    from checkout_freshportal.warehouse.engine import make_engine

    eng = make_engine(migrated_url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE raw_webhook_events SET processed_at = received_at"))
    eng.dispose()
    text = requests.get(f"{sidecar.url}/metrics", timeout=10).text
    assert "cfp_sidecar_unprocessed_events 0" in text
    assert "cfp_sidecar_oldest_unprocessed_age_seconds 0" in text


@pytest.mark.postgres
def test_postgres_database_down_answers_503_then_recovers(
    pg_databases, run_sidecar: Callable[..., ServerThread]
) -> None:
    """A database that does not exist (yet): 503 so Checkout.com resends; later it works again."""
    from checkout_freshportal.warehouse.migrate import upgrade

    url = sa.make_url(pg_databases.server_url).set(database="cfp_t_sidecar_missing")
    missing = url.render_as_string(hide_password=False)
    server = run_sidecar(missing, commit_timeout=5)
    body = envelope("evt_down")
    r = post(server.url, body, signed(body))
    assert r.status_code == 503
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 503
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert "cfp_sidecar_unavailable_total 1" in metrics
    assert "cfp_sidecar_database_up 0" in metrics
    # the database comes back: the next delivery (Checkout.com's resend) is stored
    admin = sa.create_engine(pg_databases.server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text('CREATE DATABASE "cfp_t_sidecar_missing"'))
    admin.dispose()
    pg_databases.names.append("cfp_t_sidecar_missing")
    upgrade(missing)
    assert post(server.url, body, signed(body)).json() == {"status": "stored"}
    assert [r["event_id"] for r in rows(missing)] == ["evt_down"]


def test_sqlite_database_unusable_answers_503(tmp_path, run_sidecar: Callable[..., ServerThread]) -> None:
    """A SQLite file that is not a warehouse (never migrated): the insert fails, 503, nothing kept."""
    url = f"sqlite:///{tmp_path / 'not-migrated.sqlite'}"
    server = run_sidecar(url)
    body = envelope("evt_down")
    assert post(server.url, body, signed(body)).status_code == 503
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 503
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        assert "raw_webhook_events" not in sa.inspect(conn).get_table_names()
    eng.dispose()


@pytest.mark.postgres
def test_writer_survives_a_dropped_connection(pg_url: str, run_sidecar: Callable[..., ServerThread]) -> None:
    """PostgreSQL restarted (or a NAT dropped the idle connection): the next delivery is stored."""
    from checkout_freshportal.warehouse.migrate import upgrade

    upgrade(pg_url)
    server = run_sidecar(pg_url, writers=1)
    first = envelope("evt_before")
    assert post(server.url, first, signed(first)).status_code == 200
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    assert killed >= 1
    second = envelope("evt_after")
    r = post(server.url, second, signed(second))
    assert r.status_code == 200, r.text
    assert [r["event_id"] for r in rows(pg_url)] == ["evt_before", "evt_after"]
