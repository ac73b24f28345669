"""deploy/postgres/initdb/10-warehouse.sh on a real PostgreSQL, as the postgres image runs it.

The script is what separates the warehouse from Airflow's metadata in the Compose deployment
(docs/deployment.md): its own role owning its own database, PUBLIC shut out of both. Run here
with psql against the test server, under the variables the postgres image exports, followed by
the deploy step `cfp db upgrade` as the new role, as the airflow-init service runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "postgres" / "initdb" / "10-warehouse.sh"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = pytest.mark.postgres


@pytest.fixture
def psql() -> str:
    found = shutil.which("psql")
    if found is None:
        msg = "psql is not installed (the postgres image's init scripts run it)"
        if IN_CI:
            pytest.fail(msg + " (CI=true: the init script must be tested)")
        pytest.skip(msg)
    return found


class Initialised:
    """A scratch metadata database, plus the role and warehouse database the script created."""

    def __init__(self, server_url: str, meta_url: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.server = sa.engine.make_url(server_url)
        self.meta = sa.engine.make_url(meta_url)
        self.role = f"cfp_wh_{suffix}"
        self.database = f"cfp_wh_{suffix}"
        self.password = f"p'w\"{suffix}"  # quotes: the script must pass it as a literal

    def url(self, database: str, as_role: bool = True) -> str:
        user = (
            {"username": self.role, "password": self.password}
            if as_role
            else {"username": self.server.username, "password": self.server.password}
        )
        return self.server.set(database=database, **user).render_as_string(hide_password=False)

    def run_script(self) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PGHOST": self.server.host or "127.0.0.1",
            "PGPORT": str(self.server.port or 5432),
            "POSTGRES_USER": self.server.username or "postgres",
            "POSTGRES_DB": str(self.meta.database),
            "CFP_WAREHOUSE_DB": self.database,
            "CFP_WAREHOUSE_DB_USER": self.role,
            "CFP_WAREHOUSE_DB_PASSWORD": self.password,
        }
        if self.server.password:
            env["PGPASSWORD"] = str(self.server.password)
        return subprocess.run(
            ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    def drop(self) -> None:
        admin = sa.create_engine(self.url("postgres", as_role=False), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{self.role}"'))
        finally:
            admin.dispose()


@pytest.fixture
def initialised(psql: str, pg_server_url: str, pg_url: str) -> Iterator[Initialised]:
    init = Initialised(pg_server_url, pg_url)
    try:
        done = init.run_script()
        assert done.returncode == 0, done.stderr
        yield init
    finally:
        init.drop()


def _connect_error(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    return None


def test_warehouse_role_owns_its_database_and_nothing_else(initialised: Initialised) -> None:
    admin = sa.create_engine(initialised.url("postgres", as_role=False))
    try:
        with admin.connect() as conn:
            owner, superuser = conn.execute(
                sa.text(
                    "select pg_get_userbyid(d.datdba), r.rolsuper from pg_database d "
                    "join pg_roles r on r.rolname = :role where d.datname = :db"
                ),
                {"role": initialised.role, "db": initialised.database},
            ).one()
            public_connect = conn.execute(
                sa.text("select has_database_privilege('public', :db, 'CONNECT')"),
                {"db": initialised.meta.database},
            ).scalar_one()
    finally:
        admin.dispose()
    assert owner == initialised.role
    assert superuser is False
    assert public_connect is False
    # The warehouse role may open its database, never Airflow's metadata database.
    assert _connect_error(initialised.url(initialised.database)) is None
    refused = _connect_error(initialised.url(str(initialised.meta.database)))
    assert refused is not None
    assert "CONNECT" in refused


def test_cfp_db_upgrade_runs_as_the_warehouse_role(initialised: Initialised) -> None:
    url = initialised.url(initialised.database)
    env = {**os.environ, "CFP_WAREHOUSE_URL": url}
    cfp = str(Path(sys.executable).parent / "cfp")
    done = subprocess.run(
        [cfp, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warehouse at revision" in done.stdout
    assert initialised.password not in done.stdout + done.stderr
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            owners = set(
                conn.execute(sa.text("select distinct tableowner from pg_tables where schemaname = 'public'"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert owners == {initialised.role}


def test_script_refuses_to_run_without_its_variables() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CFP_", "POSTGRES_"))}
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode != 0
    assert "POSTGRES_USER" in done.stderr
