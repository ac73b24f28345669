"""Fixtures: a live FreshPortal simulator on 127.0.0.1 and clients pointed at it.

No mock stands in for the API: every client test talks HTTP to the simulator. Retries sleep
for real but with millisecond backoff, so fault-injection tests stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings


@pytest.fixture(autouse=True)
def _no_tenant_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the packaged default mapping unless they set an override themselves."""
    monkeypatch.delenv("CFP_FRESHPORTAL_MAPPING", raising=False)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., FreshPortalSandboxServer]]:
    started: list[FreshPortalSandboxServer] = []

    def make(**config: Any) -> FreshPortalSandboxServer:
        server = FreshPortalSandboxServer(FreshPortalSandboxConfig(**config)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox) -> FreshPortalSandboxServer:
    return make_sandbox(seed=7, order_count=40)


@pytest.fixture
def make_client() -> Iterator[Callable[..., FreshPortalClient]]:
    clients: list[FreshPortalClient] = []

    def make(server: FreshPortalSandboxServer, **settings: Any) -> FreshPortalClient:
        mapping = settings.pop("mapping", None)
        options: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": server.api_key,
            "backoff_base": 0.001,
            "backoff_cap": 0.01,
            "timeout": (2.0, 5.0),
            **settings,
        }
        client = FreshPortalClient(FreshPortalSettings(**options), mapping=mapping)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(sandbox, make_client) -> FreshPortalClient:
    return make_client(sandbox)
