"""The deployable image carries the product and nothing of the development package.

The Astro Runtime base image copies the whole build context (ONBUILD), so `.dockerignore` is
what keeps `dev/` (simulators, scenario, demo), tests and local state out; the Dockerfile's own
COPY lines must not bring them back. No Docker engine runs here, so the rules are checked as
Docker applies them: every path the build context would hold is matched against the ignore
patterns with the same syntax (`fnmatch` per path component, as in Docker's matcher).
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], pattern[3:])
            ):
                return True
    return False


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_context_excludes_every_development_file() -> None:
    patterns = _patterns()
    shipped = [p for p in _tracked() if not _ignored(p, patterns)]
    leaked = [p for p in shipped if p.split("/")[0] in {"dev", "tests", "docs", "examples", ".ci"}]
    assert not leaked, f"development files would reach the image: {leaked[:10]}"
    for local in (
        ".venv/bin/python",
        ".demo/warehouse.sqlite",
        "x/__pycache__/m.pyc",
        "dev/cfp_dev/cli.py",
        # the Compose deployment's secrets and host-side files (docs/deployment.md)
        "deploy/compose.env",
        "deploy/compose.env.example",
        "deploy/postgres/initdb/10-warehouse.sh",
        "docker-compose.yaml",
        ".env",
        "reports/latest/report.html",
    ):
        assert _ignored(local, patterns), local


def test_context_keeps_what_the_image_needs() -> None:
    patterns = _patterns()
    for needed in (
        "dags/checkout_events.py",
        "plugins/events_tasks.py",
        "include/checkout_freshportal/cli.py",
        "airflow_provider/pyproject.toml",
        "requirements.txt",
        "packages.txt",
        "pyproject.toml",
        ".astro/test_dag_integrity_default.py",
        "include/checkout_freshportal/reports/__init__.py",
    ):
        assert not _ignored(needed, patterns), needed


def test_image_python_is_the_one_the_lock_targets() -> None:
    """The runtime's default distribution moves to newer Pythons; the lock and requires-python
    are for one version, so the image must name it (a `-python-X.Y` runtime tag)."""
    base = re.search(r"^FROM\s+(\S+)", (REPO / "Dockerfile").read_text(), re.M)
    assert base, "no FROM line"
    tag = re.search(r"runtime:3\.3-\d+-python-(3\.\d+)$", base.group(1))
    assert tag, f"not an Astro Runtime 3.3 tag with its Python: {base.group(1)}"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'python_version = "{tag.group(1)}"' in pyproject, tag.group(1)
    low, high = re.search(r'requires-python = ">=(3\.\d+),<(3\.\d+)"', pyproject).groups()
    minor = int(tag.group(1).split(".")[1])
    assert int(low.split(".")[1]) <= minor < int(high.split(".")[1])


@pytest.mark.parametrize("line", (REPO / "Dockerfile").read_text().splitlines())
def test_dockerfile_copies_no_development_path(line: str) -> None:
    if re.match(r"\s*(COPY|ADD)\b", line):
        assert not re.search(r"\b(dev|tests|\.demo|\.venv)\b", line), line


def test_runtime_requirements_name_no_development_tool() -> None:
    runtime = (REPO / "requirements.txt").read_text()
    for tool in ("fastapi", "pytest", "hypothesis", "ruff", "mypy"):
        assert not re.search(rf"^{tool}\b", runtime, re.M), tool
