"""Fixtures of the reconciliation operations tests: a migrated SQLite warehouse with one order's
whole money chain (seed.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from seed import seed


@pytest.fixture
def seeded_url(migrated_sqlite_url: str) -> str:
    engine = sa.create_engine(migrated_sqlite_url)
    try:
        seed(engine)
    finally:
        engine.dispose()
    return migrated_sqlite_url


@pytest.fixture
def seeded(seeded_url: str):
    engine = sa.create_engine(seeded_url)
    yield engine
    engine.dispose()
