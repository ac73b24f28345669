"""The secrets a ``cfp demo`` run is configured with, read from the run itself.

The demo makes some secrets up at start (the webhook signature key, the Airflow admin password,
Airflow's JWT and API secrets) and hands them to its processes through their environment; the
sandboxes' keys are fixed (``cfp_dev.demo.stack.connection_env``). Neither kind is written down
here: the fixed ones come from the demo's environment builder, the made-up ones from
``/proc/<pid>/environ`` of the demo's child processes while they run (Linux), keeping only the
variables the demo set itself (what differs from this process's environment).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cfp_dev.secret_scan import Secret, secrets_from_environ


def child_pids(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == parent:
            pids.append(int(stat.parent.name))
    return pids


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def set_by_demo(env: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """Only what the demo put there: inherited variables are not the demo's configuration."""
    return {k: v for k, v in env.items() if own.get(k) != v}


def harvest(demo_pid: int, into: dict[str, Secret]) -> None:
    """Adds the secrets in the environment of every child of ``demo_pid`` running now."""
    own = dict(os.environ)
    for pid in child_pids(demo_pid):
        for s in secrets_from_environ(set_by_demo(environ_of(pid), own), f"demo child {pid}"):
            into.setdefault(s.value, Secret(s.name.split(" ", 3)[-1], s.value))


def static_secrets() -> list[Secret]:
    """The sandboxes' fixed keys, from the same builder the demo's Airflow gets them from."""
    from cfp_dev.demo.stack import connection_env

    return secrets_from_environ(connection_env("http://127.0.0.1:1", "http://127.0.0.1:2"), "demo")


def airflow_passwords(demo_dir: Path) -> list[Secret]:
    path = demo_dir / "airflow" / "passwords.json"
    if not path.exists():
        return []
    return [Secret(f"Airflow password of {user}", pw) for user, pw in json.loads(path.read_text()).items()]


def all_secrets(harvested: Iterable[Secret], demo_dir: Path) -> list[Secret]:
    by_value = {s.value: s for s in [*static_secrets(), *airflow_passwords(demo_dir)]}
    for s in harvested:
        by_value.setdefault(s.value, s)
    return list(by_value.values())
