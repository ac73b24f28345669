"""Run the FreshPortal simulator in-process: uvicorn in a background thread on loopback.

For tests and the demo: ``with FreshPortalSandboxServer(config) as fp: ...`` gives a live
``fp.base_url`` and direct access to ``fp.state`` (the same object the HTTP handlers use).
Port 0 (the default) picks a free port, so parallel test runs do not collide.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import create_app
from .config import FreshPortalSandboxConfig
from .state import FreshPortalSandboxState


class FreshPortalSandboxServer:
    def __init__(
        self,
        config: FreshPortalSandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or FreshPortalSandboxConfig()
        self.app = create_app(self.config)
        self.state: FreshPortalSandboxState = self.app.state.sandbox
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.config.api_keys[0]

    def start(self, timeout: float = 10.0) -> FreshPortalSandboxServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = int(sock.getsockname()[1])
        cfg = uvicorn.Config(self.app, log_level=self._log_level, access_log=False, lifespan="off")
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="freshportal-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the FreshPortal sandbox failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the FreshPortal sandbox did not start within {timeout:.0f} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> FreshPortalSandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
