"""Slow clients, health answers, log lines and orphaned workers: the sidecar's edges.

Each test runs the real thing: uvicorn on a loopback port (in a thread, or as a process tree
for ``--workers``), raw sockets for the stalled clients, and polling rather than fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import requests
import sqlalchemy as sa
from sidecar_helpers import ServerThread, post, sidecar_env, signed

from cfp_dev.demo.stack import Managed, free_port, start_process, wait_http
from checkout_freshportal.sidecar.logsafe import LOG_TEXT_LIMIT, safe
from checkout_freshportal.warehouse.migrate import upgrade


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)


def _raw_request(port: int, head: bytes, pieces: Iterator[bytes], timeout: float) -> tuple[bytes, float]:
    """Send ``head`` then ``pieces`` (a stalling or trickling body); the answer and its delay."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        answer = b""
        s.setblocking(False)
        deadline = t0 + timeout
        for piece in pieces:
            if piece:
                try:
                    s.sendall(piece)
                except OSError:  # the server already answered and closed
                    break
            try:
                answer += s.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionResetError:  # closed with our trickle unread: RST after its answer
                return answer, time.monotonic() - t0
            if answer or time.monotonic() > deadline:
                break
        s.setblocking(True)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        # A server that closes with unread body bytes sends RST after its answer; the answer
        # already read is what counts.
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := s.recv(65536):  # until the server closes the connection
                answer += chunk
    return answer, time.monotonic() - t0


def _stall() -> Iterator[bytes]:
    while True:
        time.sleep(0.05)
        yield b""


def _trickle() -> Iterator[bytes]:
    while True:
        time.sleep(0.05)
        yield b" "


@pytest.mark.parametrize("body", [_stall, _trickle], ids=["stalled", "trickling"])
def test_slow_body_gets_408_and_the_connection_closed(
    sqlite_url: str, run_sidecar: Callable[..., ServerThread], body: Callable[[], Iterator[bytes]]
) -> None:
    upgrade(sqlite_url)
    server = run_sidecar(sqlite_url, body_timeout=0.5)
    head = (
        b"POST /webhooks/checkout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Cko-Signature: " + b"0" * 64 + b'\r\nContent-Length: 100000\r\n\r\n{"id":'
    )
    answer, took = _raw_request(server.port, head, body(), timeout=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert took < 5  # 0.5 s configured; the rest is slack for a busy machine
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'cfp_sidecar_rejected_total{reason="timeout"} 1' in metrics
    # the server still serves everyone else
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_healthz_says_down_without_exception_names(
    tmp_path: Path, run_sidecar: Callable[..., ServerThread]
) -> None:
    server = run_sidecar(f"sqlite:///{tmp_path / 'not-migrated.sqlite'}")
    r = requests.get(f"{server.url}/healthz", timeout=10)
    assert r.status_code == 503
    assert r.json() == {"status": "down", "database": "down"}
    assert "Error" not in r.text
    assert "Exception" not in r.text


def test_safe_escapes_and_truncates() -> None:
    assert safe("evt_1\n2026-01-01 INFO forged") == "evt_1\\x0a2026-01-01 INFO forged"
    assert safe("a\x00b\x1b[31mc\x7f\u2028\u202e\ud800") == "a\\x00b\\x1b[31mc\\x7f\\u2028\\u202e\\ud800"
    long = safe("x" * 10_000)
    assert long.startswith("x" * LOG_TEXT_LIMIT)
    assert long.endswith("…(+9920 chars)")
    assert len(long) < LOG_TEXT_LIMIT + 20
    assert safe(ValueError("bad\nthing")) == "bad\\x0athing"
    assert safe("evt_az3lh4ljcqcuvhwoh7ugg3w7vi") == "evt_az3lh4ljcqcuvhwoh7ugg3w7vi"


def test_untrusted_text_never_breaks_a_log_line(
    sqlite_url: str, run_sidecar: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture
) -> None:
    """Poison ids with a newline, NUL or ANSI escape reach the log (if at all) on one line."""
    upgrade(sqlite_url)
    server = run_sidecar(sqlite_url)
    caplog.set_level(logging.INFO, logger="checkout_freshportal.sidecar")
    for event_id in ("evt_1\n2026-01-01 WARNING forged", "evt_\x00\x1b[2J", "evt_" + "z" * 9000):
        body = json.dumps({"id": event_id, "type": "payment_captured\nforged"}).encode()
        assert post(server.url, body, signed(body)).json() == {"status": "poison"}
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("checkout_freshportal")]
    assert sum("poison webhook stored" in m for m in messages) == 3
    for m in messages:
        for unwanted in ("\n", "\x00", "\x1b", "forged", "z" * 200):
            assert unwanted not in m, m


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process tree checked through /proc")
def test_workers_exit_when_the_supervisor_is_killed(sqlite_url: str, tmp_path: Path) -> None:
    """``--workers 2``, SIGKILL to the parent: the port stops serving and no worker remains."""
    upgrade(sqlite_url)
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "checkout_freshportal.sidecar",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
    ]
    managed: Managed = start_process("sidecar-workers", argv, sidecar_env(sqlite_url), tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, managed.proc, managed.log_path)
        parent = psutil.Process(managed.proc.pid)
        _poll(lambda: len(parent.children()) >= 2, 30, "two workers started")
        workers = [c.pid for c in parent.children(recursive=True)]
        os.kill(managed.proc.pid, signal.SIGKILL)
        managed.proc.wait(10)
        _poll(lambda: not _serving(port), 15, f"port {port} no longer served")
        _poll(lambda: all(_gone(pid) for pid in workers), 15, f"workers {workers} gone")
    finally:
        managed.stop(grace=5)  # the whole process group, whatever the test found


# ------------------------------------------------------------------ refused before the body is read


@pytest.mark.parametrize(
    ("auth", "signature"),
    [
        ("token-ok", None),  # no signature: can never be verified
        ("token-ok", "sha256=" + "0" * 64),  # not 64 hex digits
        (None, "0" * 64),  # Authorization configured but missing
        ("token-wrong", "0" * 64),
    ],
    ids=["no-signature", "malformed-signature", "no-authorization", "wrong-authorization"],
)
def test_a_caller_that_can_never_be_verified_is_refused_before_its_body(
    sqlite_url: str, run_sidecar: Callable[..., ServerThread], auth: str | None, signature: str | None
) -> None:
    """Refused only after the body before (a review's probe: 150 connections announcing 1 MiB
    and stalling held 150 MB until the body timeout). The body is never sent here and the body
    timeout is long: an answer at all means the body was not waited for."""
    upgrade(sqlite_url)
    server = run_sidecar(sqlite_url, body_timeout=60, authorization=("token-ok",))
    head = b"POST /webhooks/checkout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
    if auth is not None:
        head += b"Authorization: " + auth.encode() + b"\r\n"
    if signature is not None:
        head += b"Cko-Signature: " + signature.encode() + b"\r\n"
    answer, _ = _raw_request(server.port, head + b"\r\n", _stall(), timeout=15)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"connection: close" in answer.lower()


def test_a_non_ascii_authorization_value_matches_its_utf8_bytes(
    sqlite_url: str, run_sidecar: Callable[..., ServerThread]
) -> None:
    upgrade(sqlite_url)
    server = run_sidecar(sqlite_url, authorization=("s\u00e9cret-\u00e6\u00f8\u00e5",))
    body = b'{"id":"evt_utf8auth","type":"payment_captured","data":{"id":"pay_1"}}'
    head = (
        b"POST /webhooks/checkout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + b"Authorization: "
        + "s\u00e9cret-\u00e6\u00f8\u00e5".encode()
        + b"\r\nCko-Signature: "
        + signed(body)["Cko-Signature"].encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    answer, _ = _raw_request(server.port, head + body, iter([b""]), timeout=15)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


# ------------------------------------------------------------------ PostgreSQL connections


def test_postgres_batches_commit_durably_and_connections_drop_dead_peers(pg_url: str) -> None:
    """A database whose default is ``synchronous_commit = off`` had the sidecar answer 2xx before
    the commit was on disk; a silent peer blocked a writer for ever. The batch's transaction sets
    durability itself (no server ``options``: a pooler refuses them, and they replaced the URL's)."""
    from datetime import UTC, datetime

    from checkout_freshportal.sidecar import store

    upgrade(pg_url)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = sa.make_url(pg_url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    url = sa.make_url(pg_url).update_query_dict({"options": "-c application_name=cfp-probe"})
    engine = store.make_sidecar_engine(url.render_as_string(hide_password=False))
    body = b'{"id":"evt_durable","type":"payment_captured","data":{"id":"pay_1"}}'
    try:
        with engine.connect() as conn:
            params = conn.connection.driver_connection.info.get_parameters()  # type: ignore[union-attr]
            assert (params["keepalives"], params["tcp_user_timeout"]) == ("1", "30000")
            assert conn.execute(sa.text("SHOW application_name")).scalar() == "cfp-probe"  # the URL's
            conn.rollback()
            with conn.begin():
                assert store.insert_batch(conn, [store.record_from_body(body, 0)], datetime.now(UTC))
                assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == "on"
            assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == "off"  # LOCAL only
    finally:
        engine.dispose()


def test_healthz_says_down_while_a_batch_waits_past_the_commit_timeout(
    pg_url: str, run_sidecar: Callable[..., ServerThread]
) -> None:
    """A writer blocked on its connection answered every webhook 503 while /healthz, which pings
    on a fresh connection, said up: nothing restarted the process. Here another session's lock
    blocks the insert (as a dead connection blocks a writer) while reads still work."""
    upgrade(pg_url)
    server = run_sidecar(pg_url, commit_timeout=1.0, stuck_after=1.5)
    body = b'{"id":"evt_stuck_writer","type":"payment_captured","data":{"id":"pay_1"}}'
    locker = sa.create_engine(pg_url)
    try:
        with locker.connect() as conn:
            conn.execute(sa.text("LOCK TABLE raw_webhook_events IN SHARE MODE"))
            assert post(server.url, body, signed(body)).status_code == 503
            # the batch was stamped a moment after the request's wait began
            _poll(
                lambda: requests.get(f"{server.url}/healthz", timeout=10).status_code == 503,
                10,
                "healthz down while the batch waits past commit_timeout",
            )
            r = requests.get(f"{server.url}/healthz", timeout=10)
            assert (r.status_code, r.json()) == (503, {"status": "down", "database": "down"})
            metrics = requests.get(f"{server.url}/metrics", timeout=10).text
            assert "cfp_sidecar_database_up 0.0" in metrics
            conn.rollback()  # the lock goes: the batch commits
        _poll(
            lambda: requests.get(f"{server.url}/healthz", timeout=10).status_code == 200,
            10,
            "healthz up again once the batch committed",
        )
        assert post(server.url, body, signed(body)).json() == {"status": "duplicate"}
    finally:
        locker.dispose()


# ------------------------------------------------------------------ a row the database drops silently


def test_an_event_the_database_drops_silently_is_not_answered_as_a_duplicate(
    migrated_url: str, run_sidecar: Callable[..., ServerThread]
) -> None:
    """A trigger returning NULL (or a DO INSTEAD NOTHING rule) makes an insert report no row,
    which read as "already stored": 200 duplicate for an event that was never kept."""
    engine = sa.create_engine(migrated_url)
    pg = engine.dialect.name == "postgresql"
    drop = (
        [
            "CREATE FUNCTION cfp_drop_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
            "CREATE TRIGGER cfp_drop BEFORE INSERT ON raw_webhook_events "
            "FOR EACH ROW EXECUTE FUNCTION cfp_drop_row()",
        ]
        if pg
        else ["CREATE TRIGGER cfp_drop BEFORE INSERT ON raw_webhook_events BEGIN SELECT RAISE(IGNORE); END"]
    )
    server = run_sidecar(migrated_url)
    body = b'{"id":"evt_dropped_silently","type":"payment_captured","data":{"id":"pay_1"}}'
    try:
        with engine.begin() as conn:
            for stmt in drop:
                conn.exec_driver_sql(stmt)
        r = post(server.url, body, signed(body))
        assert r.status_code == 503, r.text
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TRIGGER cfp_drop ON raw_webhook_events" if pg else "DROP TRIGGER cfp_drop"
            )
        assert post(server.url, body, signed(body)).json() == {"status": "stored"}  # the resend is kept
    finally:
        engine.dispose()
