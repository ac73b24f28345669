"""Fixtures for the ingestion tests: a frozen sandbox world, clients, table snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.checkout.settings import CheckoutSettings
from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.engine import make_engine
from checkout_freshportal.warehouse.migrate import upgrade

#: A clock this slow stands still for the length of a test, so two runs see the same world.
FROZEN = 1e-9

#: When rows landed and which run wrote them: facts about the load, not about the data.
LOAD_BOOKKEEPING = {"first_seen_at", "updated_at", "fetched_at", "loaded_at", "run_id"}


def sandbox_config(**overrides: Any) -> SandboxConfig:
    base: dict[str, Any] = {"seed": 7, "days": 10, "payments_per_day": 30, "clock_speed": FROZEN}
    base.update(overrides)
    return SandboxConfig(**base)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """The tidy simulator, or with ``parametrize("sandbox", ["real"], indirect=True)`` the one
    answering in Checkout.com's recorded shapes (``real_shapes``, docs/sandbox.md)."""
    shapes = getattr(request, "param", "tidy")
    with SandboxServer(sandbox_config(real_shapes=shapes == "real")) as server:
        yield server


def client_for(server: SandboxServer, **overrides: Any) -> CheckoutClient:
    settings = CheckoutSettings(base_url=server.base_url, secret_key=DEFAULT_SECRET_KEY, **overrides)
    return CheckoutClient(settings)


def migrated_engine(url: str) -> sa.Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def snapshot(engine: sa.Engine, *, drop: set[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every raw_/stg_ table, rows sorted by primary key, values made comparable across runs."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if not table.name.startswith(("raw_", "stg_")):
                continue
            cols = [c for c in table.columns if c.name not in drop]
            order = [c for c in table.primary_key.columns]
            rows = conn.execute(sa.select(*cols).order_by(*order)).all()
            out[table.name] = [tuple(_comparable(v) for v in r) for r in rows]
    return out


def _comparable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value
