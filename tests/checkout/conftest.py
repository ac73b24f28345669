"""Fixtures for the client's integration tests: one real Checkout.com sandbox per session.

The sandbox (cfp_dev.sandbox.checkout) is a real HTTP server; nothing here mocks
the API. Runtime options (faults, limits, search links, token lifetime) are switched through
``POST /_sandbox/faults`` and restored after each test, so one server serves every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from checkout_freshportal.checkout import CheckoutClient, CheckoutSettings

try:  # the simulator is developed alongside; until it exists, integration tests skip
    from cfp_dev.sandbox.checkout import (
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
        DEFAULT_SECRET_KEY,
        SandboxConfig,
        SandboxServer,
    )
except ImportError as exc:  # pragma: no cover - depends on the sandbox being present
    SANDBOX_MISSING: str | None = f"sandbox not available: {exc}"
else:
    SANDBOX_MISSING = None


class Sandbox:
    """A running sandbox plus helpers to reconfigure it and read its counters."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.base_url: str = server.base_url.rstrip("/")
        self.defaults: dict[str, Any] = self.admin("GET", "faults")

    def admin(self, method: str, what: str, **kwargs: Any) -> Any:
        resp = requests.request(method, f"{self.base_url}/_sandbox/{what}", timeout=10, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def set(self, **options: Any) -> None:
        self.admin("POST", "faults", json=options)

    def reset_options(self) -> None:
        self.set(**{k: v for k, v in self.defaults.items() if k != "clock_speed"})

    def calls(self) -> dict[str, Any]:
        return self.admin("GET", "calls")

    def reset_calls(self) -> dict[str, Any]:
        return self.admin("DELETE", "calls")


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    if SANDBOX_MISSING:
        pytest.skip(SANDBOX_MISSING)
    # Eight days give the dispute tests enough disputes whatever the wall-clock date.
    config = SandboxConfig(seed=7, days=8, payments_per_day=60, fault_seed=11)
    with SandboxServer(config) as server:
        yield Sandbox(server)


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Iterator[Sandbox]:
    sandbox_session.reset_options()
    yield sandbox_session
    sandbox_session.reset_options()


@pytest.fixture
def make_client(sandbox: Sandbox) -> Iterator[Callable[..., CheckoutClient]]:
    """Clients against the sandbox; fast backoff so fault tests stay quick."""
    made: list[CheckoutClient] = []

    def factory(oauth: bool = False, **overrides: Any) -> CheckoutClient:
        kw: dict[str, Any] = {"base_url": sandbox.base_url, "backoff_base": 0.01, "backoff_cap": 0.2}
        if oauth:
            kw.update(client_id=DEFAULT_OAUTH_CLIENT_ID, client_secret=DEFAULT_OAUTH_CLIENT_SECRET)
        else:
            kw["secret_key"] = DEFAULT_SECRET_KEY
        kw.update(overrides)
        client = CheckoutClient(CheckoutSettings(**kw))
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
