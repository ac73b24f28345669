"""Schema changes are a deploy step: tasks, ``cfp ingest`` and the sidecar check, never migrate.

Every process that uses the warehouse calls ``check_current`` (one SELECT of ``alembic_version``,
then cached per engine) and stops with what to run when the schema is not at head; and none of
them falls back to a SQLite file when no warehouse is configured.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from cfp_dev.demo.stack import free_port, start_process, venv_bin, wait_http
from checkout_freshportal import cli
from checkout_freshportal.config import WarehouseNotConfiguredError, warehouse_url
from checkout_freshportal.errors import is_permanent
from checkout_freshportal.warehouse import engine as wh_engine
from checkout_freshportal.warehouse import migrate
from checkout_freshportal.warehouse.migrate import SchemaNotCurrentError, check_current, head_revision

PASSWORD = "pw-never-shown-4711"


@pytest.fixture
def empty_url(warehouse_url: str) -> str:
    """A never-migrated warehouse; on PostgreSQL with a password in the URL (trust auth ignores
    it), so the tests can prove no message shows it."""
    u = sa.make_url(warehouse_url)
    if u.get_backend_name() == "postgresql":
        return u.set(password=PASSWORD).render_as_string(hide_password=False)
    return warehouse_url


def _statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, *_a: seen.append(stmt))
    return seen


def _no_alembic_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any migration attempt fail loudly: the check must not need one."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("check_current ran an Alembic migration")

    monkeypatch.setattr(migrate.command, "upgrade", refuse)
    monkeypatch.setattr(migrate.command, "stamp", refuse)


def test_empty_database_fails_naming_the_deploy_step(empty_url: str) -> None:
    engine = wh_engine.make_engine(empty_url)
    try:
        with pytest.raises(SchemaNotCurrentError) as err:
            check_current(engine, source="CFP_WAREHOUSE_URL")
        message = str(err.value)
        assert "empty (never migrated)" in message
        assert f"needs revision {head_revision()}" in message
        assert "`cfp db upgrade`" in message
        assert "from CFP_WAREHOUSE_URL" in message
        assert PASSWORD not in message
        assert (err.value.current, err.value.expected) == (None, head_revision())
        assert is_permanent(err.value)  # the retry policy fails the task at once
        with engine.connect() as conn:  # nothing was created by the check
            assert sa.inspect(conn).get_table_names() == []
    finally:
        engine.dispose()


def test_old_revision_fails_naming_current_and_expected(empty_url: str) -> None:
    assert migrate.upgrade(empty_url, "0002") == "0002"
    engine = wh_engine.make_engine(empty_url)
    try:
        with pytest.raises(SchemaNotCurrentError) as err:
            check_current(engine)
        message = str(err.value)
        assert f"is at revision 0002; this release needs revision {head_revision()}" in message
        assert "`cfp db upgrade`" in message
        assert PASSWORD not in message
        assert migrate.current_revision(engine) == "0002"  # the check did not migrate
    finally:
        engine.dispose()


def test_unknown_revision_says_a_newer_release_migrated_it(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    engine = wh_engine.make_engine(sqlite_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaNotCurrentError, match="9999, which this release does not know"):
            check_current(engine)
    finally:
        engine.dispose()


def test_head_passes_with_one_query_and_no_alembic(warehouse_url: str, monkeypatch) -> None:
    migrate.upgrade(warehouse_url)
    engine = wh_engine.make_engine(warehouse_url)
    seen = _statements(engine)
    _no_alembic_migration(monkeypatch)
    try:
        assert check_current(engine) == head_revision()
        queries = [s for s in seen if not s.startswith("BEGIN")]
        assert queries == ["SELECT version_num FROM alembic_version"]
        seen.clear()
        for _ in range(3):  # every task step calls it: cached per engine afterwards
            assert check_current(engine) == head_revision()
        assert seen == []
    finally:
        engine.dispose()


def test_a_downgrade_is_seen_by_the_next_check(sqlite_url: str) -> None:
    """The per-engine cache forgets an engine that ``downgrade`` moved off head."""
    migrate.upgrade(sqlite_url)
    engine = wh_engine.make_engine(sqlite_url)
    try:
        check_current(engine)
        migrate.downgrade(engine, "0003")
        with pytest.raises(SchemaNotCurrentError, match="at revision 0003"):
            check_current(engine)
    finally:
        engine.dispose()


# -- no silent default -------------------------------------------------------------------------


def test_no_setting_is_an_error_naming_the_connection_and_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("CFP_WAREHOUSE_URL", raising=False)
    for call in (warehouse_url, wh_engine.default_url, wh_engine.make_engine):
        with pytest.raises(WarehouseNotConfiguredError) as err:
            call()
        assert "'cfp_warehouse'" in str(err.value)
        assert "CFP_WAREHOUSE_URL" in str(err.value)
        assert is_permanent(err.value)
    monkeypatch.setenv("CFP_WAREHOUSE_URL", "  ")
    with pytest.raises(WarehouseNotConfiguredError):
        warehouse_url()


# -- the Airflow hook (Connection from AIRFLOW_CONN_*; no metadata database needed) -------------


def _conn_env(monkeypatch: pytest.MonkeyPatch, url: str | None) -> None:
    if url is None:
        monkeypatch.delenv("AIRFLOW_CONN_CFP_WAREHOUSE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_CFP_WAREHOUSE", json.dumps({"conn_type": "generic", "host": url}))


def test_hook_without_connection_or_variable_names_both(monkeypatch) -> None:
    from warehouse_hook import WarehouseHook

    _conn_env(monkeypatch, None)
    monkeypatch.delenv("CFP_WAREHOUSE_URL", raising=False)
    with pytest.raises(WarehouseNotConfiguredError) as err:
        WarehouseHook().get_engine()
    assert "Airflow Connection 'cfp_warehouse'" in str(err.value)
    assert "CFP_WAREHOUSE_URL" in str(err.value)


def test_hook_refuses_an_empty_warehouse_and_names_the_connection(empty_url: str, monkeypatch) -> None:
    from warehouse_hook import WarehouseHook

    _conn_env(monkeypatch, empty_url)
    monkeypatch.delenv("CFP_WAREHOUSE_URL", raising=False)
    with pytest.raises(SchemaNotCurrentError) as err:
        WarehouseHook().get_engine()
    message = str(err.value)
    assert "`cfp db upgrade`" in message
    assert "from Airflow Connection 'cfp_warehouse'" in message
    assert PASSWORD not in message
    engine = wh_engine.make_engine(empty_url)
    try:
        assert migrate.current_revision(engine) is None  # the task did not migrate
    finally:
        engine.dispose()


def test_hook_refuses_an_old_revision(sqlite_url: str, monkeypatch) -> None:
    from warehouse_hook import WarehouseHook

    migrate.upgrade(sqlite_url, "0003")
    _conn_env(monkeypatch, None)
    monkeypatch.setenv("CFP_WAREHOUSE_URL", sqlite_url)
    with pytest.raises(SchemaNotCurrentError, match=r"at revision 0003.*from CFP_WAREHOUSE_URL"):
        WarehouseHook().get_engine()


def test_hook_at_head_hands_out_the_engine_without_alembic(warehouse_url: str, monkeypatch) -> None:
    from warehouse_hook import WarehouseHook

    migrate.upgrade(warehouse_url)
    _conn_env(monkeypatch, warehouse_url)
    _no_alembic_migration(monkeypatch)
    engine = WarehouseHook().get_engine()
    try:
        with engine.connect() as conn:
            assert "sync_watermarks" in sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


# -- the command line ----------------------------------------------------------------------------


def _cfp(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    code = done.value.code
    out, err = capsys.readouterr()
    if isinstance(code, str):  # sys.exit("message"): printed to stderr, status 1
        return 1, out, code
    return int(code or 0), out, err


def test_cli_db_upgrade_then_current_prints_head(warehouse_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CFP_WAREHOUSE_URL", warehouse_url)
    if warehouse_url.startswith("sqlite"):
        # no file yet: said so, and asking does not create one
        path = Path(warehouse_url.removeprefix("sqlite:///"))
        code, out, err = _cfp(["db", "current"], capsys)
        assert (code, out) == (1, "")
        assert err == f"cfp db current: no warehouse at {path} (create it with `cfp db upgrade`)\n"
        assert not path.exists()
        sqlite3.connect(path).close()  # an empty database file
    assert _cfp(["db", "current"], capsys)[:2] == (0, "(empty)\n")
    code, out, _ = _cfp(["db", "upgrade"], capsys)
    assert code == 0
    assert out.startswith(f"warehouse at revision {head_revision()} (")
    assert _cfp(["db", "current"], capsys)[:2] == (0, f"{head_revision()}\n")
    code, _, err = _cfp(["db", "upgrade", "bogus"], capsys)  # a typo: said, not a traceback
    assert code == 1
    head = head_revision()
    assert (
        err == f"cfp db upgrade: Can't locate revision identified by 'bogus' (this release's head is {head})"
    )


def test_cli_without_a_warehouse_names_both_settings(monkeypatch, capsys) -> None:
    monkeypatch.delenv("CFP_WAREHOUSE_URL", raising=False)
    for argv in (["db", "upgrade"], ["db", "current"], ["ingest"]):
        code, _, err = _cfp(argv, capsys)
        assert code == 1
        assert "'cfp_warehouse'" in err, argv
        assert "CFP_WAREHOUSE_URL" in err, argv


def test_cli_ingest_refuses_a_schema_that_is_not_current(sqlite_url: str, monkeypatch, capsys) -> None:
    """Before any API call: the Checkout.com settings are not even read."""
    migrate.upgrade(sqlite_url, "0001")
    code, _, err = _cfp(["ingest", "--url", sqlite_url], capsys)
    assert code == 1
    assert err.startswith("cfp ingest: warehouse schema is at revision 0001")
    assert "from --url" in err
    assert "`cfp db upgrade`" in err


def _bad_urls() -> list[tuple[str, str]]:
    """Malformed, unknown dialect, bad port, unreachable server; each with a password to hide."""
    return [
        (f"not a url {PASSWORD}", "Could not parse SQLAlchemy URL"),
        (f"nosuchdb://u:{PASSWORD}@h/db", "Can't load plugin"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1:notaport/db", "invalid literal for int()"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/db", "Connection refused"),
        # libpq reads a password from the query too
        (f"postgresql://127.0.0.1:{free_port()}/db?password={PASSWORD}", "Connection refused"),
        # an unescaped "@" in the password: the driver quotes the rest as part of the host
        (f"postgresql://u:{PASSWORD}@{PASSWORD}2@127.0.0.1:{free_port()}/db", "failed to resolve host"),
        ("mysql://u:" + PASSWORD + "@127.0.0.1/db", "database driver (MySQLdb) is not installed"),
        (f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1/db", "asyncio driver"),
    ]


# Fixed ids: the refused URL names a free port found at collection, and parallel test workers
# (pytest-xdist) must collect the same test names.
@pytest.mark.parametrize(
    ("url", "reason"),
    _bad_urls(),
    ids=[
        "malformed",
        "dialect",
        "port",
        "refused",
        "query-password",
        "at-in-password",
        "no-driver",
        "asyncio",
    ],
)
@pytest.mark.parametrize("argv", [["db", "current"], ["db", "upgrade"], ["ingest"]])
def test_cli_bad_url_is_one_line_naming_the_setting(
    url: str, reason: str, argv: list[str], monkeypatch, capsys
) -> None:
    monkeypatch.setenv("CFP_WAREHOUSE_URL", url)
    code, _, err = _cfp(argv, capsys)
    assert code == 1
    assert err.startswith(f"cfp {' '.join(argv)}: the warehouse URL from CFP_WAREHOUSE_URL (")
    assert reason in err
    assert "\n" not in err
    assert "Traceback" not in err
    assert PASSWORD not in err
    # The same through --url names --url.
    monkeypatch.delenv("CFP_WAREHOUSE_URL")
    code, _, err = _cfp([*argv, "--url", url], capsys)
    assert (code, "from --url (" in err, PASSWORD in err) == (1, True, False)


def test_a_short_piece_of_a_password_does_not_garble_the_reason() -> None:
    """The pieces of a password split at "@" are hidden where a driver quotes them as the host;
    a one-character piece replaced everywhere garbled the message (a review's probe)."""
    from checkout_freshportal.warehouse.url_errors import reason

    said = reason(
        Exception('connection to server at "1@db.example.com" (10.0.0.15), port 5432 failed'),
        "postgresql://cfp:s@1@db.example.com:5432/w",
    )
    assert said == 'connection to server at "***@db.example.com" (10.0.0.15), port 5432 failed'


def test_sidecar_bad_url_is_one_line_naming_the_setting(monkeypatch, capsys) -> None:
    for url, reason in _bad_urls():
        _sidecar_env(monkeypatch, url)
        code, _, err = _cfp(["sidecar", "serve", "--port", str(free_port())], capsys)
        assert code == 1
        assert err.startswith("cfp sidecar: the warehouse URL from CFP_WAREHOUSE_URL ("), err
        assert reason in err
        assert "\n" not in err
        assert PASSWORD not in err


def test_bad_url_from_a_real_process_exits_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "CFP_WAREHOUSE_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/db"}
    done = subprocess.run(
        [str(venv_bin("cfp")), "db", "current"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Connection refused" in done.stderr
    assert PASSWORD not in done.stderr
    assert "postgresql://u:***@127.0.0.1" in done.stderr


def test_check_current_never_creates_a_sqlite_file(tmp_path: Path) -> None:
    """SQLite creates a missing file on connect: the check looks before it connects."""
    path = tmp_path / "typo.sqlite"
    engine = wh_engine.make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(SchemaNotCurrentError, match=r"empty \(never migrated\)") as err:
            check_current(engine, source="CFP_WAREHOUSE_URL")
        assert err.value.current is None
        assert f"there is no SQLite file at {path}" in str(err.value)
        assert "folder does not exist" not in str(err.value)
        assert not path.exists()
    finally:
        engine.dispose()
    gone = tmp_path / "no-such-folder" / "w.sqlite"
    engine = wh_engine.make_engine(f"sqlite:///{gone}")
    try:
        with pytest.raises(SchemaNotCurrentError, match="its folder does not exist either"):
            check_current(engine)
    finally:
        engine.dispose()
    migrate.upgrade(f"sqlite:///{path}")  # once it exists (the deploy step), the check passes
    engine = wh_engine.make_engine(f"sqlite:///{path}")
    try:
        assert check_current(engine) == head_revision()
    finally:
        engine.dispose()


# -- the sidecar: a long-running service checks at start, like the tasks -------------------------


def _sidecar_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("CFP_WAREHOUSE_URL", url)
    monkeypatch.setenv("CFP_SIDECAR_SIGNATURE_KEYS", "k-deploy-test")
    monkeypatch.setenv("CFP_SIDECAR_TRIGGER_ENABLED", "false")


def test_sidecar_refuses_to_start_on_a_schema_not_current(empty_url: str, monkeypatch, capsys) -> None:
    _sidecar_env(monkeypatch, empty_url)
    code, _, err = _cfp(["sidecar", "serve", "--port", str(free_port())], capsys)
    assert code == 1
    assert err.startswith("cfp sidecar: warehouse schema is empty (never migrated)")
    assert "`cfp db upgrade`" in err
    assert PASSWORD not in err
    migrate.upgrade(empty_url, "0002")
    code, _, err = _cfp(["sidecar", "serve", "--port", str(free_port()), "--no-upgrade"], capsys)
    assert (code, "at revision 0002" in err) == (1, True)
    engine = wh_engine.make_engine(empty_url)
    try:
        assert migrate.current_revision(engine) == "0002"  # refused, untouched
    finally:
        engine.dispose()


def test_sidecar_without_a_warehouse_names_both_settings(monkeypatch, capsys) -> None:
    _sidecar_env(monkeypatch, "")
    monkeypatch.delenv("CFP_WAREHOUSE_URL")
    code, _, err = _cfp(["sidecar", "serve", "--port", str(free_port())], capsys)
    assert code == 1
    assert "'cfp_warehouse'" in err
    assert "CFP_WAREHOUSE_URL" in err


@pytest.mark.slow
def test_sidecar_upgrade_flag_migrates_then_serves(tmp_path: Path, monkeypatch) -> None:
    """``--upgrade`` (the embedded demo, development): migrates at start, then answers /healthz."""
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    _sidecar_env(monkeypatch, url)
    port = free_port()
    proc = start_process(
        "sidecar-upgrade",
        [venv_bin("cfp"), "sidecar", "serve", "--port", str(port), "--upgrade", "--log-level", "warning"],
        dict(os.environ),
        tmp_path / "logs",
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc.proc, proc.log_path)
    finally:
        proc.stop()
    engine = wh_engine.make_engine(url)
    try:
        assert migrate.current_revision(engine) == head_revision()
    finally:
        engine.dispose()


# -- a real task (dag.test) ----------------------------------------------------------------------


@pytest.mark.airflow
@pytest.mark.slow
def test_a_task_on_an_empty_warehouse_fails_at_once(dagbag, sqlite_url: str, monkeypatch, capfd) -> None:
    """Through Airflow: the task fails on its first try naming the deploy step; nothing migrated.

    The Checkout.com Connection only has to be well-formed: the warehouse check comes before any
    call to the API.
    """
    from datetime import UTC, datetime

    from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY

    monkeypatch.setenv(
        "AIRFLOW_CONN_CHECKOUT_DEFAULT",
        json.dumps({"conn_type": "checkout", "host": "http://127.0.0.1:9", "password": DEFAULT_SECRET_KEY}),
    )
    _conn_env(monkeypatch, None)
    monkeypatch.setenv("CFP_WAREHOUSE_URL", sqlite_url)
    run = dagbag.dags["checkout_events"].test(
        run_conf={"settings": {}, "push_settings": {}, "triggered_by": "test", "reason": "deploy test"},
        logical_date=datetime(2026, 3, 1, tzinfo=UTC),
    )
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert (tis["apply_events"].state, tis["apply_events"].try_number) == ("failed", 1)
    out, err = capfd.readouterr()
    log = out + err
    assert "SchemaNotCurrentError: warehouse schema is empty (never migrated)" in log
    assert "`cfp db upgrade`" in log
    assert "Retry policy decision" in log
    assert "action=fail" in log
    engine = wh_engine.make_engine(sqlite_url)
    try:
        assert migrate.current_revision(engine) is None
    finally:
        engine.dispose()
