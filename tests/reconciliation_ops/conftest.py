"""Fixtures of the reconciliation operations tests: a migrated SQLite warehouse with one order's
whole money chain (seed.py), and the FreshPortal simulator holding the seeded orders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import seed as s
import sqlalchemy as sa

from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxServer
from checkout_freshportal.freshportal.client import FreshPortalClient
from checkout_freshportal.freshportal.mapping import load_mapping
from checkout_freshportal.freshportal.settings import FreshPortalSettings


def _seed(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        s.seed(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def seeded_url(migrated_warehouse_url: str) -> str:
    """Seeded, once on SQLite and once on PostgreSQL (the library's queries must agree)."""
    return _seed(migrated_warehouse_url)


@pytest.fixture
def seeded_sqlite_url(migrated_sqlite_url: str) -> str:
    """Seeded SQLite only: for the DAG test, which runs once."""
    return _seed(migrated_sqlite_url)


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(seeded_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fp_server() -> Iterator[FreshPortalSandboxServer]:
    """One per test (each counts the notes of its own orders), holding the seeded orders."""
    orders = [
        {"order_id": int(oid), "order_number": f"FP-{oid}0", "currency": ccy, "amount_minor": amount,
         "status": "confirmed"}
        for oid, ccy, amount in s.FRESHPORTAL_ORDERS
    ]  # fmt: skip
    with FreshPortalSandboxServer(FreshPortalSandboxConfig(seed=9, orders=orders, order_count=0)) as fp:
        yield fp


@pytest.fixture
def fp(fp_server: FreshPortalSandboxServer) -> FreshPortalClient:
    settings = FreshPortalSettings(
        base_url=fp_server.base_url,
        api_key=fp_server.api_key,
        max_retries=1,
        backoff_base=0.01,
        backoff_cap=0.02,
    )
    return FreshPortalClient(settings, mapping=load_mapping(environ={}))
