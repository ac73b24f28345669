"""The Airflow UI plugin serving the latest report: read-only, inside ``latest/`` only, behind
Airflow's login, and loaded by Airflow's own plugin manager."""

from __future__ import annotations

from pathlib import Path

import pytest
import report_view
from fastapi.testclient import TestClient


@pytest.fixture
def out(tmp_path: Path) -> Path:
    latest = tmp_path / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "report.html").write_text("<html><a href='exceptions.csv'>exceptions</a></html>")
    (latest / "exceptions.csv").write_text("kind,severity\nmissing_payment,high\n")
    (latest / "report.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "reports" / "secret.txt").write_text("not for the browser")
    (latest / "escape.txt").symlink_to(tmp_path / "reports" / "secret.txt")
    return tmp_path / "reports"


@pytest.fixture
def client(out: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("CFP_REPORT_OUT_DIR", str(out))
    return TestClient(report_view.build_app())  # Airflow's login is tested below


def test_serves_the_report_and_its_exports(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "exceptions.csv" in page.text
    csv = client.get("/exceptions.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("kind,severity")
    assert client.get("/report.xlsx").content == b"PK\x03\x04"
    assert client.head("/exceptions.csv").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/..%2fsecret.txt", "/%2e%2e/secret.txt", "/escape.txt", "//etc/passwd", "/%2fetc%2fpasswd",
     "/..%5csecret.txt", "/missing.csv", "/report.html%00.csv"],
)  # fmt: skip
def test_nothing_outside_latest(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, (path, r.text)
    assert "not for the browser" not in r.text


def test_read_only(client: TestClient) -> None:
    assert client.post("/exceptions.csv").status_code == 405
    assert client.delete("/exceptions.csv").status_code == 405


def test_before_the_first_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFP_REPORT_OUT_DIR", str(tmp_path / "none"))
    r = TestClient(report_view.build_app()).get("/")
    assert r.status_code == 404
    assert "No reconciliation report yet" in r.text


def test_the_plugin_app_requires_an_airflow_login(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFP_REPORT_OUT_DIR", str(out))
    anonymous = TestClient(report_view.app)
    for path in ("/", "/exceptions.csv"):
        r = anonymous.get(path)
        assert r.status_code == 401, path
        assert "missing_payment" not in r.text


def test_airflows_plugin_manager_loads_it() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    mounted = {a["url_prefix"]: a for a in apps}
    assert mounted["/cfp-report"]["name"] == "Reconciliation report"
    views, _ = plugins_manager._get_ui_plugins()
    (view,) = [v for v in views if v.get("url_route") == "reconciliation-report"]
    assert view["href"] == "cfp-report/"
    assert view["category"] == "browse"
    assert not any("report_view" in k for k in plugins_manager.get_import_errors())


@pytest.mark.airflow
def test_mounted_in_airflows_api_server_behind_its_login(
    airflow_db: str, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real API app (``create_app``): the plugin is mounted at /cfp-report, refuses an
    anonymous request, and serves the report to a user holding an Airflow JWT (header or the
    UI's session cookie)."""
    from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-" + "s" * 64)  # long enough for HS512
    try:
        api = TestClient(create_app("core"))
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
        assert api.get("/cfp-report/").status_code == 401
        page = api.get("/cfp-report/", headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200
        assert "exceptions.csv" in page.text
        api.cookies.set("_token", token)
        assert api.get("/cfp-report/exceptions.csv").text.startswith("kind,severity")
        assert api.get("/cfp-report/..%2fsecret.txt").status_code == 404
    finally:
        purge_cached_app()
