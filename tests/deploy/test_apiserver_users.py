"""The api-server's start in docker-compose.yaml gives Airflow's simple auth manager its users.

The command writes the passwords of `admin` and `cfp_webhook` from the env file into the file
the auth manager reads (so it never generates and logs passwords of its own), then execs the
api-server. Run here as written up to that exec, with the file in a temporary folder; Airflow's
own SimpleAuthManager then reads the users, roles and passwords back.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
START = "exec airflow api-server"


def _service() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]["airflow-apiserver"]


def test_start_writes_the_users_passwords_for_the_auth_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service()
    bash, flag, script = service["command"]
    assert (bash, flag) == ("bash", "-c")
    assert script.rstrip().endswith(START)
    env_in_file = service["environment"]
    passwords_file = tmp_path / "passwords.json"
    # quotes, a backslash and non-ASCII: the JSON must be written by a JSON encoder, not by hand
    admin, webhook = 'adm"in\\pw-é', "web'hook pw"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW_ADMIN_PASSWORD": admin,
        "CFP_AIRFLOW_PASSWORD": webhook,
    }
    done = subprocess.run(
        ["bash", "-c", script.replace(START, "exec true")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert admin not in done.stdout + done.stderr
    assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600

    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file))
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", env_in_file["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    )
    users = {u.username: u.role for u in SimpleAuthManager.get_users()}
    assert users == {"admin": "admin", "cfp_webhook": "user"}
    assert SimpleAuthManager.get_passwords() == {"admin": admin, "cfp_webhook": webhook}
