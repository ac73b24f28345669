"""docker-compose.yaml: valid for Compose, and the deployment docs/deployment.md describes.

Compose itself validates the file (`docker-compose config -q`, Debian's package: it parses and
interpolates without a Docker engine; `make test` installs it). The rest is checked on the YAML
as written (PyYAML resolves the anchors and merge keys as Compose does): the CeleryExecutor in
every Airflow component, two or more workers, a healthcheck on every long-running service, the
one-shot init job the others wait for, two distinct databases, the sandbox profile holding the
simulators and nothing else, no secret written into the file, every variable it reads listed in
deploy/compose.env.example and docs/deployment.md, and one JWT secret shared by all components.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
EXAMPLE = REPO / "deploy" / "compose.env.example"
DOCS = REPO / "docs" / "deployment.md"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
SIMULATORS = {"sandbox-checkout", "sandbox-freshportal"}
# `${VAR...}` that Compose interpolates; `$${VAR}` is an escaped `$` the container's shell reads.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


# -- reading the files -----------------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"not NAME=value: {line!r}"
            values[name.strip()] = value
    return values


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _env(name: str) -> dict[str, str]:
    env = _services()[name].get("environment", {})
    assert isinstance(env, dict), f"{name}: environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def _empty_in_example() -> set[str]:
    return {name for name, value in _example().items() if value == ""}


def _optional_empty() -> set[str]:
    """Empty in the example and read as `${VAR:-}` (optional), not `${VAR:?...}`."""
    text = COMPOSE.read_text()
    return {name for name in _empty_in_example() if f"${{{name}:?" not in text}


def _required_secrets() -> list[str]:
    """The example's empty values compose refuses to start without: secrets each operator sets."""
    return sorted(_empty_in_example() - _optional_empty())


def _filled_env(tmp_path: Path, leave_out: str | None = None) -> Path:
    lines = []
    for name, value in _example().items():
        if name == leave_out:
            continue
        if value == "" and name not in _optional_empty():
            value = secrets.token_hex(16)
        lines.append(f"{name}={value}")
    path = tmp_path / "compose.env"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- Compose's own validation ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    msg = "docker-compose is not installed (`make docker-compose` or `apt-get install docker-compose`)"
    if IN_CI:
        pytest.fail(msg + " (CI=true: the compose file must be validated)")
    pytest.skip(msg)


def _config(cli: list[str], env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [*cli, "--env-file", str(env_file), "-f", str(COMPOSE), "--profile", "sandbox", "config", *extra]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_compose_validates_the_file(compose_cli: list[str], tmp_path: Path) -> None:
    done = _config(compose_cli, _filled_env(tmp_path), "-q")
    assert done.returncode == 0, done.stderr


def test_compose_resolves_every_service(compose_cli: list[str], tmp_path: Path) -> None:
    done = _config(compose_cli, _filled_env(tmp_path), "--services")
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == set(_services())


def test_the_unedited_example_does_not_start(compose_cli: list[str]) -> None:
    done = _config(compose_cli, EXAMPLE, "-q")
    assert done.returncode != 0
    assert "deploy/compose.env" in done.stderr, done.stderr


@pytest.mark.parametrize("name", _required_secrets())
def test_each_missing_secret_stops_compose_by_name(compose_cli: list[str], tmp_path: Path, name: str) -> None:
    done = _config(compose_cli, _filled_env(tmp_path, leave_out=name), "-q")
    assert done.returncode != 0, f"compose started without {name}"
    assert f"set {name} in deploy/compose.env" in done.stderr, done.stderr


# -- the topology ----------------------------------------------------------------------------------
def test_airflow_components_run_the_celery_executor() -> None:
    services = _services()
    assert set(services) >= AIRFLOW_SERVICES | {"postgres", "redis", "sidecar"} | SIMULATORS
    running_airflow = {n for n, s in services.items() if re.search(r"\bairflow\b", _command(s))}
    assert running_airflow == AIRFLOW_SERVICES
    for name in AIRFLOW_SERVICES:
        assert _env(name).get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
    for name, service in services.items():
        if name not in AIRFLOW_SERVICES:
            assert "AIRFLOW__CORE__EXECUTOR" not in service.get("environment", {}), name


def test_two_or_more_celery_workers() -> None:
    workers = [s for s in _services().values() if "celery worker" in _command(s)]
    assert sum(int(s.get("deploy", {}).get("replicas", 1)) for s in workers) >= 2


def _one_shot() -> set[str]:
    waited_for: set[str] = set()
    for service in _services().values():
        for dep, cond in (service.get("depends_on") or {}).items():
            if cond.get("condition") == "service_completed_successfully":
                waited_for.add(dep)
    return waited_for


def test_init_job_migrates_both_databases_before_anything_starts() -> None:
    services = _services()
    assert _one_shot() == {"airflow-init"}
    init = services["airflow-init"]
    assert init.get("restart") == "no"
    steps = _command(init)
    assert "airflow db migrate" in steps
    assert "cfp db upgrade" in steps
    assert steps.index("airflow db migrate") < steps.index("cfp db upgrade")
    for name in (AIRFLOW_SERVICES - {"airflow-init"}) | {"sidecar"}:
        cond = services[name]["depends_on"]["airflow-init"]["condition"]
        assert cond == "service_completed_successfully", name


HEALTH_PROBES = {
    "airflow-apiserver": "/api/v2/",
    "airflow-scheduler": "airflow jobs check",
    "airflow-dag-processor": "airflow jobs check",
    "airflow-triggerer": "airflow jobs check",
    "airflow-worker": "inspect ping",
    "postgres": "pg_isready",
    "redis": "redis-cli ping",
    "sidecar": "/healthz",
    "sandbox-checkout": "/_sandbox/",
    "sandbox-freshportal": "/_sandbox/health",
}


def test_every_long_running_service_has_a_healthcheck() -> None:
    long_running = set(_services()) - _one_shot()
    assert long_running == set(HEALTH_PROBES)
    for name in long_running:
        check = _services()[name].get("healthcheck") or {}
        test = check.get("test")
        assert test, f"{name}: no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        text = " ".join(test) if isinstance(test, list) else test
        assert HEALTH_PROBES[name] in text, f"{name}: {text}"


def _db(url: str) -> tuple[str, str, str]:
    """(host, user, database) of a URL (its `${...}` parts, which may hold a `/`, set aside)."""
    parts = urlsplit(re.sub(r"\$\{[^}]*\}", "VAR", url))
    return parts.hostname or "", parts.username or "", parts.path.lstrip("/")


def test_metadata_and_warehouse_are_separate_databases() -> None:
    env = _env("airflow-scheduler")
    meta = _db(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    celery = _db(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    warehouse = _db(env["CFP_WAREHOUSE_URL"])
    assert meta == celery
    assert _db(env["AIRFLOW_CONN_CFP_WAREHOUSE"]) == warehouse == _db(_env("sidecar")["CFP_WAREHOUSE_URL"])
    assert meta[0] == warehouse[0] == "postgres"
    assert meta[2] != warehouse[2], "one database for both"
    assert meta[1] != warehouse[1], "one role for both"
    postgres = _services()["postgres"]
    pg_env = _env("postgres")
    assert (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"]) == meta[1:]
    assert (pg_env["CFP_WAREHOUSE_DB_USER"], pg_env["CFP_WAREHOUSE_DB"]) == warehouse[1:]
    mounts = dict(v.split(":")[:2] for v in postgres["volumes"] if v.startswith("./"))
    assert mounts["./deploy/postgres/initdb"] == "/docker-entrypoint-initdb.d"
    # executable: the postgres entrypoint runs it (a non-executable .sh would be sourced)
    scripts = sorted((REPO / "deploy/postgres/initdb").glob("*.sh"))
    assert scripts
    assert all(os.access(s, os.X_OK) for s in scripts), scripts


def test_sandbox_profile_holds_exactly_the_simulators() -> None:
    services = _services()
    in_sandbox = {n for n, s in services.items() if "sandbox" in (s.get("profiles") or [])}
    assert in_sandbox == SIMULATORS
    assert all(not s.get("profiles") for n, s in services.items() if n not in SIMULATORS)
    assert "cfp sandbox checkout" in _command(services["sandbox-checkout"])
    assert "cfp sandbox freshportal" in _command(services["sandbox-freshportal"])
    for name in SIMULATORS:
        # dev/ is mounted into the simulators only; the product image never holds it.
        assert any(v.startswith("./dev:") for v in services[name]["volumes"]), name
    for name in set(services) - SIMULATORS:
        assert not any(str(v).startswith("./dev") for v in services[name].get("volumes", [])), name


def test_ports_published_only_where_documented() -> None:
    published = {n: s["ports"] for n, s in _services().items() if s.get("ports")}
    assert set(published) == {"airflow-apiserver", "sidecar"} | SIMULATORS
    for name in SIMULATORS:
        assert all(str(p).startswith("127.0.0.1:") for p in published[name]), name


# -- secrets and variables -------------------------------------------------------------------------
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|FERNET", re.IGNORECASE)
SECRET_VALUE = [
    re.compile(r"\b[sp]k_(?:sbox_)?[a-z0-9]{20,}", re.IGNORECASE),  # Checkout.com keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b[0-9a-f]{32,}\b", re.IGNORECASE),  # hex tokens
    re.compile(r"(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[a-z])[A-Za-z0-9+/_-]{40,}={0,2}"),  # base64
]


def secret_literals(document: Any, path: str = "") -> list[str]:
    """Where a value looks like a secret written in the file instead of read from the env file."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            literal = isinstance(value, str | int) and not str(value).startswith("${")
            not_a_secret = str(key).endswith(("_FILE", "_USER", "_USERS"))
            if SECRET_NAME.search(str(key)) and literal and not not_a_secret:
                found.append(f"{where}: literal value for a secret-named key")
            found.extend(secret_literals(value, where))
    elif isinstance(document, list):
        for i, item in enumerate(document):
            found.extend(secret_literals(item, f"{path}[{i}]"))
    elif isinstance(document, str):
        for url_password in re.findall(r"://[^\s:/@]*:([^\s@]+)@", document):
            if not url_password.startswith("${"):
                found.append(f"{path}: password written in a URL")
        plain = VARIABLE.sub("", document)
        found.extend(f"{path}: {p.pattern[:20]}..." for p in SECRET_VALUE if p.search(plain))
    return found


def test_no_secret_is_written_in_the_compose_file() -> None:
    assert secret_literals(_compose()) == []


@pytest.mark.parametrize(
    "leak",
    [
        {"environment": {"POSTGRES_PASSWORD": "hunter2"}},
        {"environment": {"X": "postgresql://airflow:hunter2@postgres/airflow"}},
        {"environment": {"AIRFLOW__API_AUTH__JWT_SECRET": "a"}},
        {"command": "cfp --key sk_sbox_fre5hp2rta7sandb2xkeyf2rdem"},
        {"environment": {"X": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
    ],
)
def test_the_secret_scan_finds_literals(leak: dict[str, Any]) -> None:
    assert secret_literals({"services": {"x": leak}})


def _strings(document: Any) -> list[str]:
    """Every text value of the file (keys and values; comments are not Compose's input)."""
    if isinstance(document, dict):
        return [s for k, v in document.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(document, list):
        return [s for item in document for s in _strings(item)]
    return [document] if isinstance(document, str) else []


def test_every_variable_is_in_the_example_and_the_docs() -> None:
    used = {name for text in _strings(_compose()) for name in VARIABLE.findall(text)}
    listed = set(_example())
    assert used - listed == set(), "read by docker-compose.yaml, missing from deploy/compose.env.example"
    assert listed - used == set(), "in deploy/compose.env.example, never read by docker-compose.yaml"
    docs = DOCS.read_text()
    assert [v for v in sorted(used) if f"`{v}`" not in docs] == [], "undocumented in docs/deployment.md"


def test_the_example_holds_no_real_secret() -> None:
    for name, value in _example().items():
        if SECRET_NAME.search(name):
            assert value == "", f"{name} must be empty in the example"


def test_the_example_connections_reach_the_simulators_with_their_made_up_keys() -> None:
    from cfp_dev.sandbox.checkout.config import DEFAULT_SECRET_KEY
    from cfp_dev.sandbox.freshportal.config import DEFAULT_API_KEY

    example = _example()
    expected = {
        "AIRFLOW_CONN_CHECKOUT_DEFAULT": ("checkout", "sandbox-checkout", DEFAULT_SECRET_KEY),
        "AIRFLOW_CONN_FRESHPORTAL_DEFAULT": ("freshportal", "sandbox-freshportal", DEFAULT_API_KEY),
    }
    for name, (conn_type, service, key) in expected.items():
        conn = json.loads(example[name])
        assert conn["conn_type"] == conn_type, name
        assert conn["password"] == key, name
        host = urlsplit(conn["host"])
        assert host.hostname == service, name
        assert f":{host.port}" in _command(_services()[service]).replace(" --port ", ":"), name


def test_one_jwt_secret_fernet_key_and_execution_api_for_all_components() -> None:
    shared = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    )
    for key in shared:
        values = {_env(name).get(key) for name in AIRFLOW_SERVICES}
        assert len(values) == 1, f"{key}: {values}"
        assert None not in values, f"{key}: missing"
    jwt = _env("airflow-worker")["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert VARIABLE.findall(jwt) == ["AIRFLOW__API_AUTH__JWT_SECRET"]
    url = urlsplit(_env("airflow-worker")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver"
    assert url.path == "/execution/"
    assert any(str(p).endswith(f":{url.port}") for p in _services()["airflow-apiserver"]["ports"])


def test_sidecar_triggers_through_the_api_server_as_a_configured_user() -> None:
    env = _env("sidecar")
    assert urlsplit(env["CFP_AIRFLOW_URL"]).hostname == "airflow-apiserver"
    configured = _env("airflow-apiserver")["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    users = dict(u.split(":") for u in configured.split(","))
    assert users.get(env["CFP_AIRFLOW_USER"]) in {"user", "op", "admin"}
    assert env["CFP_AIRFLOW_PASSWORD"] == _env("airflow-apiserver")["CFP_AIRFLOW_PASSWORD"]
    assert "sidecar serve" in _command(_services()["sidecar"])
