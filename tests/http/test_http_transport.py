"""The shared HTTP layer on the wire: Retry-After, credential-free downloads, transport errors.

A small scripted HTTP server (stdlib, real sockets) stands in for behaviours the simulators do
not produce: a ``Retry-After`` header, and a storage host matched by a ``~/.netrc`` entry.
"""

from __future__ import annotations

import io
import json
import pickle
import socket
import threading
import zipfile
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from checkout_freshportal.checkout import CheckoutClient, CheckoutSettings
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings
from checkout_freshportal.freshportal import errors as fp

KEY = "sk_sbox_" + "a" * 27
Reply = tuple[int, dict[str, str], bytes]


class ScriptedServer:
    """Answers each path from a queue of replies (the last one repeats); records every request."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append((self.command, path, dict(self.headers)))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                queue = server.replies.get(path) or [(404, {}, b"")]
                status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def json(self, path: str, *replies: tuple[int, Any, dict[str, str]]) -> None:
        self.replies[path] = [
            (status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode())
            for status, body, headers in replies
        ]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def storage() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def test_checkout_waits_at_least_retry_after(server: ScriptedServer) -> None:
    server.json("/payments/pay_1", (429, {}, {"Retry-After": "7"}), (200, {"id": "pay_1"}, {}))
    slept: list[float] = []
    settings = CheckoutSettings(base_url=server.url, secret_key=KEY, read_rps=0, backoff_base=0.01)
    with CheckoutClient(settings, sleep=slept.append) as client:
        assert client.get_payment("pay_1") == {"id": "pay_1"}
    assert slept == [7.0]
    assert client.stats.retries == 1


def test_freshportal_now_honours_retry_after_too(server: ScriptedServer) -> None:
    server.json("/v1/auth", (200, {"token": "t0k"}, {}))
    server.json(
        "/v2/export",
        (429, {"error": {"code": "rate_limited"}}, {"Retry-After": "4"}),
        (200, {"export_url": "https://storage.example/x.zip"}, {}),
    )
    slept: list[float] = []
    settings = FreshPortalSettings(base_url=server.url, api_key="k3y", backoff_base=0.01)
    with FreshPortalClient(settings, sleep=slept.append) as client:
        assert client.get_export_url(date(2026, 1, 1)) == "https://storage.example/x.zip"
    assert slept == [4.0]
    assert [h.get("Authorization") for m, p, h in server.requests if p == "/v2/export"] == ["Bearer t0k"] * 2


def test_export_download_never_sends_credentials_even_with_a_netrc_entry(
    server: ScriptedServer, storage: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login storage-user password storage-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("order.csv", "id,number\n1,A-1\n")
    storage.replies["/x.zip"] = [(200, {"Content-Type": "application/zip"}, archive.getvalue())]
    server.json("/v1/auth", (200, {"token": "t0k"}, {}))
    server.json("/v2/export", (200, {"export_url": f"{storage.url}/x.zip?sig=s3cr3t"}, {}))
    settings = FreshPortalSettings(base_url=server.url, api_key="k3y")
    with FreshPortalClient(settings) as client, client.export(date(2026, 1, 1)) as export:
        assert list(export.rows("order")) == [("order", {"id": "1", "number": "A-1"})]
    ((_, _, headers),) = storage.requests
    assert "Authorization" not in headers
    assert client.stats.count("export.download") == 1


def test_export_url_with_another_scheme_is_refused(server: ScriptedServer) -> None:
    server.json("/v1/auth", (200, {"token": "t0k"}, {}))
    server.json("/v2/export", (200, {"export_url": "file:///etc/passwd"}, {}))
    with (
        FreshPortalClient(FreshPortalSettings(base_url=server.url, api_key="k3y")) as client,
        pytest.raises(fp.ExportError, match="non-http"),
    ):
        client.get_export_url(date(2026, 1, 1))


@pytest.mark.parametrize("status", [401, 422])
def test_a_refused_key_echoed_by_the_server_is_nowhere_in_the_error(
    server: ScriptedServer, status: int
) -> None:
    """repr(), args and a pickled copy are what trackers and Airflow show, not only str()."""
    key = "fp_live_Zk3x9"  # short: the generic token scrubber (32+ characters) misses it
    body = {"error": {"code": "invalid_key", "message": f"unknown api key {key} for tenant"}}
    server.json("/v1/auth", (status, body, {}))
    settings = FreshPortalSettings(base_url=server.url, api_key=key, max_retries=0)
    with FreshPortalClient(settings) as client, pytest.raises(fp.FreshPortalError) as info:
        client.authenticate()
    error = info.value
    assert error.status == status
    shown = [str(error), repr(error), repr(error.args), repr(pickle.loads(pickle.dumps(error)))]
    shown += [repr(error.__context__), repr(error.__cause__)]
    assert not [text for text in shown if key in text]
    if status == 401:
        assert isinstance(error, fp.AuthenticationError)
        assert "key not shown" in repr(error)
        assert error.code == "invalid_key"


def test_refused_connection_is_known_unsent_by_type_not_by_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    settings = FreshPortalSettings(base_url=f"http://127.0.0.1:{port}", api_key="k3y", max_retries=1)
    client = FreshPortalClient(settings, sleep=lambda s: None)
    with client, pytest.raises(fp.TransportError) as info:
        client.authenticate()
    assert info.value.request_sent is False
    assert info.value.final is True
    assert "connection error" in str(info.value)
    assert client.stats.retries == 1


def test_error_body_request_id_and_permanent_flag_reach_the_caller(server: ScriptedServer) -> None:
    server.json("/v1/auth", (200, {"token": "t0k"}, {}))
    not_found = {"error": {"code": "not_found", "message": "no"}}
    server.json("/v1/orders/9", (404, not_found, {"X-Request-Id": "rq-9"}))
    client = FreshPortalClient(FreshPortalSettings(base_url=server.url, api_key="k3y"))
    with client, pytest.raises(fp.NotFoundError) as info:
        client.get_order("9")
    assert (info.value.request_id, info.value.code, info.value.permanent) == ("rq-9", "not_found", True)
    assert client.stats.retries == 0


def test_a_retry_warning_escapes_the_providers_error_codes(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The retry warning quotes the error, whose codes come from the other side: a line break in
    them must not forge a second log line (under Airflow no escaping formatter runs)."""
    forged = "busy\n2026-12-08 INFO payout approved"
    server.json("/payments/pay_1", (503, {"error_codes": [forged]}, {}), (200, {"id": "pay_1"}, {}))
    settings = CheckoutSettings(base_url=server.url, secret_key=KEY, read_rps=0, backoff_base=0.01)
    with caplog.at_level("WARNING"), CheckoutClient(settings, sleep=lambda _: None) as client:
        assert client.get_payment("pay_1") == {"id": "pay_1"}
    warnings = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert warnings
    assert all("\n" not in w for w in warnings), warnings
    assert any("busy" in w for w in warnings), warnings
