"""Shared fixtures: warehouse engines on SQLite and on the real PostgreSQL of the machine.

PostgreSQL tests run against ``CFP_TEST_PG_URL`` (default: the local server's ``test`` database).
Each test gets a scratch database created from that server and dropped afterwards, so tests can
run in any order and in parallel. Outside CI an unreachable server skips those tests with the
reason shown; under ``CI=true`` it fails them, because CI must prove the PostgreSQL path.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when first imported: point it at a throwaway home and at this
# repository's dags/ and plugins/ before any test module imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cfp-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
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


class ScratchDatabases:
    """Creates empty PostgreSQL databases on the test server and drops them at teardown."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def new(self, template: str | None = None) -> str:
        """A new database: empty, or a copy of the database named ``template``."""
        name = f"cfp_t_{uuid.uuid4().hex[:12]}"
        copy_of = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy_of}'))
        self.names.append(name)
        return sa.engine.make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture
def pg_databases(pg_server_url: str) -> Iterator[ScratchDatabases]:
    dbs = ScratchDatabases(pg_server_url)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="module")
def module_pg_databases(pg_server_url: str) -> Iterator[ScratchDatabases]:
    """Scratch databases shared by one test module's module-scoped fixtures (one pipeline run
    read by several tests), dropped when the module is done."""
    dbs = ScratchDatabases(pg_server_url)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture
def pg_url(pg_databases: ScratchDatabases) -> str:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    return pg_databases.new()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_kind(request) -> str:
    return request.param


@pytest.fixture
def warehouse_factory(request, warehouse_kind: str, tmp_path):
    """Makes fresh, empty warehouse URLs of the test's kind (SQLite file or PostgreSQL database)."""
    if warehouse_kind == "sqlite":
        counter = iter(range(1000))
        return lambda: f"sqlite:///{tmp_path / f'warehouse-{next(counter)}.sqlite'}"
    return request.getfixturevalue("pg_databases").new


@pytest.fixture
def warehouse_url(warehouse_factory) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    return warehouse_factory()


# -- warehouses already at the head revision ------------------------------------------------------
# Running the Alembic migrations costs about a second on PostgreSQL and a third of one on SQLite.
# Tests that only need *a* migrated warehouse get a copy of one migrated once per session (CREATE
# DATABASE ... TEMPLATE, or a file copy): the same schema, without paying the upgrade per test.
# The migrations themselves are proven by the tests that upgrade empty databases (pg_url,
# sqlite_url, warehouse_url stay empty), e.g. tests/warehouse/test_warehouse_schema.py.


@pytest.fixture(scope="session")
def pg_migrated_template(pg_server_url: str) -> Iterator[str]:
    """Name of a PostgreSQL database migrated to head once per session (never used directly)."""
    from checkout_freshportal.warehouse.migrate import upgrade

    dbs = ScratchDatabases(pg_server_url)
    try:
        upgrade(dbs.new())  # disposes its engine: a template must have no open connection
        yield dbs.names[0]
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def sqlite_migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite warehouse file migrated to head once per session (never used directly)."""
    from checkout_freshportal.warehouse.migrate import upgrade

    path = tmp_path_factory.mktemp("migrated-template") / "warehouse.sqlite"
    upgrade(f"sqlite:///{path}")  # the engine is disposed: the WAL is checkpointed into the file
    return path


@pytest.fixture
def migrated_sqlite_url(sqlite_migrated_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite warehouse at the head revision, dropped with the test's tmp_path."""
    path = tmp_path / "migrated.sqlite"
    shutil.copyfile(sqlite_migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def migrated_pg_url(pg_migrated_template: str, pg_databases: ScratchDatabases) -> str:
    """A fresh PostgreSQL warehouse at the head revision, dropped after the test."""
    return pg_databases.new(template=pg_migrated_template)


@pytest.fixture
def migrated_warehouse_url(request, warehouse_kind: str) -> str:
    """A fresh warehouse at the head revision: once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("migrated_sqlite_url" if warehouse_kind == "sqlite" else "migrated_pg_url")


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


def _start_rank(item: pytest.Item) -> tuple[int, float]:
    """(0 for a test that starts a whole Airflow stack, marked ``airflow`` and ``slow``; 1 for
    another slow one; 2 for the rest), then the longest allowed run (its ``timeout`` mark) first."""
    marks = {m.name for m in item.iter_markers()}
    timeout = item.get_closest_marker("timeout")
    allowed = float(timeout.args[0]) if timeout is not None and timeout.args else 0.0
    if {"airflow", "slow"} <= marks:
        return 0, -allowed
    return (1 if "slow" in marks else 2), -allowed


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Files with the longest tests first. ``make test`` hands whole files to its two processes in
    collection order (pytest-xdist ``--dist loadfile --no-loadscope-reorder``: by default xdist
    reorders files by their number of tests, which put the end-to-end files, a few tests of
    minutes each, last, where one process ran them alone while the other was idle). A file moves
    as a whole, by its longest test; the order within a file is kept."""
    rank: dict[str, tuple[int, float]] = {}
    for item in items:
        path = str(item.path)
        rank[path] = min(rank.get(path, (2, 0.0)), _start_rank(item))
    items.sort(key=lambda item: rank[str(item.path)])
