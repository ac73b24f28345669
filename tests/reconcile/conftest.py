from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from recon_builders import World

from checkout_freshportal.warehouse import engine as wh_engine


@pytest.fixture
def recon_engine(migrated_warehouse_url: str) -> Iterator[sa.Engine]:
    eng = wh_engine.make_engine(migrated_warehouse_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def world(recon_engine: sa.Engine) -> World:
    return World(recon_engine)


@pytest.fixture
def pg_world(migrated_pg_url: str) -> Iterator[World]:
    """A world on PostgreSQL alone, for what only PostgreSQL does (a second connection beside
    the run, READ COMMITTED between a run's statements)."""
    engine = wh_engine.make_engine(migrated_pg_url)
    try:
        yield World(engine)
    finally:
        engine.dispose()
