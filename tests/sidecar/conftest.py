"""Fixtures of the sidecar tests: a migrated warehouse and a running sidecar on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sidecar_helpers import KEYS, ServerThread

from checkout_freshportal.sidecar.app import SidecarApp
from checkout_freshportal.sidecar.settings import SidecarSettings


@pytest.fixture
def migrated_url(migrated_warehouse_url: str) -> str:
    """A fresh warehouse (SQLite file, then a PostgreSQL database) at the head revision."""
    return migrated_warehouse_url


def settings_for(url: str, **overrides: Any) -> SidecarSettings:
    values: dict[str, Any] = {"warehouse_url": url, "signature_keys": KEYS, "trigger_enabled": False}
    values.update(overrides)
    return SidecarSettings(**values)


@pytest.fixture
def run_sidecar() -> Iterator[Callable[..., ServerThread]]:
    """``run_sidecar(url, **settings)`` starts the app under uvicorn in a thread; stopped at teardown."""
    started: list[ServerThread] = []

    def start(url: str, **overrides: Any) -> ServerThread:
        server = ServerThread(SidecarApp(settings_for(url, **overrides))).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__(None, None, None)


@pytest.fixture
def sidecar(migrated_url: str, run_sidecar: Callable[..., ServerThread]) -> ServerThread:
    return run_sidecar(migrated_url)
