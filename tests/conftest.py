"""Shared fixtures: warehouse engines on SQLite and on the real PostgreSQL of the machine.

PostgreSQL tests run against ``CFP_TEST_PG_URL`` (default: the local server's ``test`` database).
Each test gets a scratch database created from that server and dropped afterwards, so tests can
run in any order and in parallel. Outside CI an unreachable server skips those tests with the
reason shown; under ``CI=true`` it fails them, because CI must prove the PostgreSQL path.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when first imported: point it at a throwaway home and at this
# repository's dags/ and plugins/ before any test module imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cfp-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "CFP_INGEST_SCHEDULE": os.environ.get("CFP_INGEST_SCHEDULE", "@hourly"),
    }
)
os.environ.pop("CFP_WAREHOUSE_URL", None)
sys.path.insert(0, str(REPO_ROOT / "plugins"))

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pg_admin_url() -> str:
    return os.environ.get("CFP_TEST_PG_URL", DEFAULT_PG_URL)


def _pg_reachable(url: str) -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(sa.text("select 1"))
        eng.dispose()
    except Exception as exc:  # the reason is what the user needs to see
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = pg_admin_url()
    reason = _pg_reachable(url)
    if reason is not None:
        where = sa.engine.make_url(url).render_as_string(hide_password=True)
        msg = f"PostgreSQL not reachable at {where}: {reason}"
        if IN_CI:
            pytest.fail(msg + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(msg)
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"cfp_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Airflow's metadata database in the session's throwaway AIRFLOW_HOME (created once)."""
    from airflow.utils import db

    db.initdb()
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag
