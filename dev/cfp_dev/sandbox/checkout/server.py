"""``SandboxServer``: the app on uvicorn in a background thread, for tests, demo and benchmarks.

Binds 127.0.0.1 on a free port (or the given one) by opening the socket itself, so the port is
known before uvicorn starts and no other process can take it in between.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import create_app
from .config import SandboxConfig
from .state import SandboxState
from .world import World


class SandboxServer:
    """``with SandboxServer(SandboxConfig()) as sb: requests.get(sb.base_url + "/payments/...")``."""

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        try:
            self.app = create_app(self.config, base_url=self.base_url)
        except BaseException:
            self._sock.close()
            raise
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SandboxState:
        sandbox: SandboxState = self.app.state.sandbox
        return sandbox

    @property
    def world(self) -> World:
        return self.state.world

    def start(self, timeout: float = 10.0) -> SandboxServer:
        if self._thread is not None:
            return self
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._sock.listen(512)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"cko-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Checkout.com sandbox did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._thread = None
        self._server = None
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
